//! Tests of the `context` imports: waits, boundary checks, host calls.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn waiting_rechecks_until_the_value_appears() {
    let reads = AtomicU32::new(0);
    let started = Instant::now();
    let found = wait_for_annotation(
        || {
            let n = reads.fetch_add(1, Ordering::SeqCst);
            async move { Ok((n == 3).then(|| serde_json::json!(n))) }
        },
        Duration::from_secs(10),
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(found, Ok(Some(serde_json::json!(3))));
    assert_eq!(started.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn waiting_gives_none_after_the_timeout_and_clamps_tiny_polls() {
    let reads = AtomicU32::new(0);
    let started = Instant::now();
    let found = wait_for_annotation(
        || {
            reads.fetch_add(1, Ordering::SeqCst);
            async { Ok(None) }
        },
        Duration::from_millis(95),
        Duration::from_millis(1),
    )
    .await;
    assert_eq!(found, Ok(None));
    assert_eq!(started.elapsed(), Duration::from_millis(95));
    // Reads at 0, 10, ..., 90 and one last at 95: never every 1 ms.
    assert_eq!(reads.load(Ordering::SeqCst), 11);
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_answers_at_once_and_errors_pass_through() {
    let found = wait_for_annotation(
        || async { Ok(None) },
        Duration::ZERO,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(found, Ok(None));
    let failed = wait_for_annotation(
        || async { Err("no such job".to_owned()) },
        Duration::from_secs(5),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(failed, Err("no such job".to_owned()));
}

#[test]
fn inputs_are_checked_at_the_boundary() {
    assert!(check_name("").is_err());
    assert!(check_name(&"n".repeat(ANNOTATION_NAME_MAX)).is_ok());
    assert!(check_name(&"n".repeat(ANNOTATION_NAME_MAX + 1)).is_err());
    assert!(
        parse_value("{not json")
            .unwrap_err()
            .contains("not valid JSON")
    );
    let big = format!("\"{}\"", "x".repeat(ANNOTATION_VALUE_MAX));
    assert!(parse_value(&big).unwrap_err().contains("limit"));
    assert!(
        parse_job(Some("nope"))
            .unwrap_err()
            .contains("not a job id")
    );
    let id = JobId::new();
    assert_eq!(parse_job(Some(&id.to_string())), Ok(Some(id)));
    assert_eq!(truncate("héllo".into(), 2), "h");
}

#[test]
fn put_requests_are_validated() {
    let request = |function: &str, args: &str| wtypes::JobRequest {
        module: None,
        function: function.into(),
        args: args.into(),
        queue: Some("q".into()),
        begin_after_ms: Some(1_700_000_000_000),
        begin_by_ms: Some(5),
        quota_names: vec!["index".into()],
        retry: Some("{\"max_attempts\": 3}".into()),
        quota_keys: vec![("tenants".into(), "acme".into())],
        broadcast: false,
        priority: 2,
        unique: Some(wtypes::UniqueRequest {
            key: Some("k".into()),
            states: vec!["pending".into(), "assigned".into(), "active".into()],
            period_ms: Some(60_000),
        }),
    };
    assert!(JobSpec::try_from(request("", "[]")).is_err());
    assert!(
        JobSpec::try_from(request("f", "3"))
            .unwrap_err()
            .contains("array or object")
    );
    assert!(
        JobSpec::try_from(request("f", "["))
            .unwrap_err()
            .contains("not valid JSON")
    );
    let ok = JobSpec::try_from(request("f", "[1]")).unwrap();
    assert_eq!(ok.args, serde_json::json!([1]));
    assert_eq!(ok.queue.as_deref(), Some("q"));
    assert_eq!(ok.quota_names, ["index"]);
    assert_eq!(ok.quota_keys["tenants"], "acme");
    assert_eq!(ok.retry.map(|p| p.max_attempts), Some(3));
    assert!(!ok.broadcast);
    let broadcast = wtypes::JobRequest {
        broadcast: true,
        ..request("f", "[]")
    };
    assert!(JobSpec::try_from(broadcast).unwrap().broadcast);
    assert_eq!(ok.priority, 2);
    let unique = ok.unique.clone().expect("unique carried");
    assert_eq!(unique.key.as_deref(), Some("k"));
    assert_eq!(unique.states.len(), 3);
    assert_eq!(unique.period_ms, Some(60_000));
    let bad_state = wtypes::JobRequest {
        unique: Some(wtypes::UniqueRequest {
            key: None,
            states: vec!["waiting".into()],
            period_ms: None,
        }),
        ..request("f", "[]")
    };
    assert!(
        JobSpec::try_from(bad_state)
            .unwrap_err()
            .contains("unknown job status `waiting`")
    );
    let bad_retry = wtypes::JobRequest {
        retry: Some("\"sometimes\"".into()),
        ..request("f", "[]")
    };
    assert!(
        JobSpec::try_from(bad_retry)
            .unwrap_err()
            .contains("unknown retry policy")
    );
    assert_eq!(
        ok.begin_after.map(crate::clock::to_millis),
        Some(1_700_000_000_000)
    );
}

/// A context that records what it is asked.
struct Recorder(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl JobContext for Recorder {
    fn job_info(&self) -> JobInfo {
        JobInfo {
            id: JobId::new(),
            queue: String::new(),
            module: ModuleDigest::of(b""),
            module_name: None,
            function: "f".into(),
            args: serde_json::json!([]),
            attempt: 1,
            annotations: vec![("a".into(), serde_json::json!(1))],
        }
    }
    async fn set_annotation(
        &self,
        _job: Option<JobId>,
        name: &str,
        value: serde_json::Value,
    ) -> Result<(), String> {
        self.0.lock().unwrap().push(format!("set {name}={value}"));
        Ok(())
    }
    async fn get_annotation(
        &self,
        _job: Option<JobId>,
        _name: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        Ok(Some(serde_json::json!("v")))
    }
    async fn put(&self, spec: JobSpec) -> Result<JobId, String> {
        self.0
            .lock()
            .unwrap()
            .push(format!("put {}", spec.function));
        Ok(JobId::new())
    }
}

#[tokio::test]
async fn host_calls_reach_the_context() {
    use context::Host as _;
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    let mut state = ContextState::new(recorder.clone());
    let mut view = ContextView::new(&mut state);
    let info = view.get_job().await.unwrap();
    assert_eq!(info.annotations, vec![("a".to_owned(), "1".to_owned())]);
    assert_eq!(info.args, "[]");
    let set = view
        .set_live_annotation("p".into(), "{\"x\":1}".into(), None)
        .await
        .unwrap();
    assert_eq!(set, Ok(()));
    let bad = view
        .set_live_annotation("p".into(), "nope".into(), None)
        .await
        .unwrap();
    assert!(bad.is_err());
    let got = view
        .get_live_annotation("p".into(), 0, 0, None)
        .await
        .unwrap();
    assert_eq!(got, Ok(Some("\"v\"".to_owned())));
    view.report_panic("boom".into()).await.unwrap();
    assert_eq!(state.panic_message(), Some("boom"));
    assert_eq!(
        *recorder.0.lock().unwrap(),
        vec!["set p={\"x\":1}".to_owned()]
    );
}

/// A context whose `put-many` records what it is given and answers each
/// spec, the second of two equal functions as a duplicate of the first.
struct Batches(Mutex<Vec<Vec<String>>>);

#[async_trait::async_trait]
impl JobContext for Batches {
    fn job_info(&self) -> JobInfo {
        Recorder(Mutex::new(Vec::new())).job_info()
    }
    async fn set_annotation(
        &self,
        _job: Option<JobId>,
        _name: &str,
        _value: serde_json::Value,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn get_annotation(
        &self,
        _job: Option<JobId>,
        _name: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        Ok(None)
    }
    async fn put(&self, _spec: JobSpec) -> Result<JobId, String> {
        Ok(JobId::new())
    }
    async fn put_many(&self, specs: Vec<JobSpec>) -> Result<Vec<PutAnswer>, String> {
        let functions: Vec<String> = specs.iter().map(|s| s.function.clone()).collect();
        self.0.lock().unwrap().push(functions.clone());
        let mut seen: Vec<(String, JobId)> = Vec::new();
        Ok(functions
            .into_iter()
            .map(|function| match seen.iter().find(|(f, _)| *f == function) {
                Some((_, id)) => PutAnswer {
                    id: *id,
                    duplicate: true,
                },
                None => {
                    let id = JobId::new();
                    seen.push((function, id));
                    PutAnswer {
                        id,
                        duplicate: false,
                    }
                }
            })
            .collect())
    }
}

fn plain(function: &str) -> wtypes::JobRequest {
    wtypes::JobRequest {
        module: None,
        function: function.into(),
        args: "[]".into(),
        queue: None,
        begin_after_ms: None,
        begin_by_ms: None,
        quota_names: Vec::new(),
        retry: None,
        quota_keys: Vec::new(),
        broadcast: false,
        priority: 0,
        unique: None,
    }
}

#[tokio::test]
async fn put_many_answers_each_request_in_order() {
    use context::Host as _;
    let batches = Arc::new(Batches(Mutex::new(Vec::new())));
    let mut state = ContextState::new(batches.clone());
    let mut view = ContextView::new(&mut state);
    let answers = view
        .put_many(vec![plain("a"), plain("b"), plain("a")])
        .await
        .unwrap()
        .unwrap();
    let duplicate: Vec<bool> = answers.iter().map(|a| a.duplicate).collect();
    assert_eq!(duplicate, [false, false, true]);
    assert_eq!(answers[0].id, answers[2].id);
    assert!(answers[0].id.parse::<JobId>().is_ok());
    // An empty list answers at once, without a call.
    let empty = view.put_many(Vec::new()).await.unwrap();
    assert!(empty.is_ok_and(|answers| answers.is_empty()));
    assert_eq!(*batches.0.lock().unwrap(), vec![vec!["a", "b", "a"]]);
}

#[tokio::test]
async fn put_many_refuses_a_list_over_the_maximum_or_a_bad_item_calling_nothing() {
    use context::Host as _;
    let batches = Arc::new(Batches(Mutex::new(Vec::new())));
    // A fan-out cap above the list, so that the maximum is what refuses.
    let mut state = ContextState::with_put_cap(batches.clone(), 2 * PUT_MANY_MAX as u64);
    let mut view = ContextView::new(&mut state);
    let over = vec![plain("f"); PUT_MANY_MAX + 1];
    let error = view.put_many(over).await.unwrap().unwrap_err();
    assert_eq!(
        error,
        format!(
            "put-many takes at most {PUT_MANY_MAX} requests; this list holds {}: split it into \
             several calls",
            PUT_MANY_MAX + 1
        )
    );
    let error = view
        .put_many(vec![plain("f"), plain(""), plain("g")])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error, "item 1: the function name is empty");
    let bad_args = wtypes::JobRequest {
        args: "3".into(),
        ..plain("f")
    };
    let error = view
        .put_many(vec![plain("f"), plain("g"), bad_args])
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.starts_with("item 2: "), "{error}");
    let broadcast = wtypes::JobRequest {
        broadcast: true,
        ..plain("f")
    };
    let error = view
        .put_many(vec![plain("f"), broadcast])
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        error.starts_with("item 1: a request of put-many cannot be a broadcast"),
        "{error}"
    );
    assert!(batches.0.lock().unwrap().is_empty());
    // The maximum itself is taken.
    let full = vec![plain("f"); PUT_MANY_MAX];
    assert_eq!(
        view.put_many(full).await.unwrap().map(|a| a.len()),
        Ok(PUT_MANY_MAX)
    );
}

#[tokio::test]
async fn put_many_counts_against_the_fan_out_cap() {
    use context::Host as _;
    let batches = Arc::new(Batches(Mutex::new(Vec::new())));
    let mut state = ContextState::with_put_cap(batches.clone(), 5);
    let mut view = ContextView::new(&mut state);
    let error = view
        .put_many(vec![plain("f"); 6])
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.contains("fan-out cap"), "{error}");
    assert!(view.put_many(vec![plain("f"); 4]).await.unwrap().is_ok());
    // Four put: one more fits, two do not, whichever the import.
    assert!(view.put_many(vec![plain("f"); 2]).await.unwrap().is_err());
    assert!(view.put(plain("f")).await.unwrap().is_ok());
    assert!(view.put(plain("f")).await.unwrap().is_err());
    assert_eq!(batches.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn put_many_over_the_argument_cap_stops_the_run() {
    use context::Host as _;
    let mut state = ContextState::new(Arc::new(Batches(Mutex::new(Vec::new()))));
    let mut view = ContextView::new(&mut state);
    let half = wtypes::JobRequest {
        args: format!("[\"{}\"]", "x".repeat(ARGUMENT_MAX / 2)),
        ..plain("f")
    };
    let error = view.put_many(vec![half.clone(), half]).await.unwrap_err();
    let too_large = error.downcast_ref::<ArgumentTooLarge>().expect("the cap");
    assert_eq!(too_large.import, "put-many");
    assert!(too_large.size > ARGUMENT_MAX);
}

/// A context that keeps the trait's default `put-many`, which refuses.
#[tokio::test]
async fn put_many_is_refused_by_a_context_without_it() {
    use context::Host as _;
    let mut state = ContextState::new(Arc::new(Recorder(Mutex::new(Vec::new()))));
    let mut view = ContextView::new(&mut state);
    let error = view.put_many(vec![plain("f")]).await.unwrap().unwrap_err();
    assert!(error.contains("not available"), "{error}");
}
