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
