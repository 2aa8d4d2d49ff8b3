//! Property tests of the `context` imports: whatever strings,
//! numbers and sizes a guest sends, every import answers without a panic,
//! with the guest's `ok`/`err` when the call is within [`ARGUMENT_MAX`]
//! and with an [`ArgumentTooLarge`] trap (naming import, size and cap)
//! when it is not.

use proptest::prelude::*;

use super::*;

/// A context that accepts everything, as the dispatcher's would for a
/// well-formed call.
struct Accepting;

#[async_trait::async_trait]
impl JobContext for Accepting {
    fn job_info(&self) -> JobInfo {
        JobInfo {
            id: JobId::new(),
            queue: String::new(),
            module: ModuleDigest::of(b""),
            module_name: None,
            function: "f".into(),
            args: serde_json::json!([]),
            attempt: 1,
            annotations: Vec::new(),
        }
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
        Ok(specs
            .iter()
            .map(|_| PutAnswer {
                id: JobId::new(),
                duplicate: false,
            })
            .collect())
    }
}

/// Short strings of any characters, and now and then one just under or
/// just over the argument cap.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => any::<String>(),
        10 => "[\\[\\]{}\",:0-9a-z\\\\ ]{0,40}",
        1 => Just("x".repeat(ARGUMENT_MAX - 64)),
        1 => Just("x".repeat(ARGUMENT_MAX + 1)),
    ]
}

fn request() -> BoxedStrategy<wtypes::JobRequest> {
    // Two boxed halves: one tuple of every field makes a value tree too
    // large for a test thread's stack in a debug build.
    let routing = (
        proptest::option::of(text()),
        text(),
        prop_oneof![Just("[]".to_owned()), text()],
        proptest::option::of(text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .boxed();
    let options = (
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
        proptest::collection::vec((text(), text()), 0..2),
        any::<bool>(),
        any::<i32>(),
        proptest::option::of(unique()),
    )
        .boxed();
    (routing, options)
        .prop_map(
            |(
                (module, function, args, queue, begin_after_ms, begin_by_ms),
                (quota_names, retry, quota_keys, broadcast, priority, unique),
            )| {
                wtypes::JobRequest {
                    module,
                    function,
                    args,
                    queue,
                    begin_after_ms,
                    begin_by_ms,
                    quota_names,
                    retry,
                    quota_keys,
                    broadcast,
                    priority,
                    unique,
                }
            },
        )
        .boxed()
}

fn unique() -> impl Strategy<Value = wtypes::UniqueRequest> {
    (
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(key, states, period_ms)| wtypes::UniqueRequest {
            key,
            states,
            period_ms,
        })
}

fn on() -> impl Strategy<Value = wtypes::CallbackOn> {
    prop_oneof![
        Just(wtypes::CallbackOn::Always),
        Just(wtypes::CallbackOn::Success),
        Just(wtypes::CallbackOn::Failure),
    ]
}

/// One call of one import, with its arguments.
#[derive(Debug, Clone)]
enum Call {
    Set(String, String, Option<String>),
    Get(String, u32, u32, Option<String>),
    Put(wtypes::JobRequest),
    Many(Vec<wtypes::JobRequest>),
    Callback(String, wtypes::CallbackOn, wtypes::JobRequest),
    Composite(Vec<wtypes::JobRequest>, wtypes::JobRequest),
    Part(
        String,
        wtypes::JobRequest,
        Vec<(wtypes::CallbackOn, wtypes::JobRequest)>,
    ),
    Held(wtypes::JobRequest),
    Append(String, String, u32),
    Panic(String),
}

fn call() -> impl Strategy<Value = Call> {
    let id = || prop_oneof![Just(JobId::new().to_string()), text()];
    prop_oneof![
        (text(), text(), proptest::option::of(id())).prop_map(|(n, v, j)| Call::Set(n, v, j)),
        (text(), 0..3u32, any::<u32>(), proptest::option::of(id()))
            .prop_map(|(n, t, p, j)| Call::Get(n, t, p, j)),
        request().prop_map(Call::Put),
        proptest::collection::vec(request(), 0..4).prop_map(Call::Many),
        (id(), on(), request()).prop_map(|(j, o, r)| Call::Callback(j, o, r)),
        (proptest::collection::vec(request(), 0..3), request())
            .prop_map(|(parts, post)| Call::Composite(parts, post)),
        (
            id(),
            request(),
            proptest::collection::vec((on(), request()), 0..2)
        )
            .prop_map(|(c, p, cbs)| Call::Part(c, p, cbs)),
        request().prop_map(Call::Held),
        (id(), text(), any::<u32>()).prop_map(|(j, a, w)| Call::Append(j, a, w)),
        text().prop_map(Call::Panic),
    ]
}

impl Call {
    /// The bytes of its arguments, as the import counts them.
    fn size(&self) -> usize {
        match self {
            Call::Set(n, v, j) => n.len() + v.len() + option_size(j),
            Call::Get(n, _, _, j) => n.len() + option_size(j),
            Call::Put(r) | Call::Held(r) => request_size(r),
            Call::Many(requests) => requests.iter().map(request_size).sum(),
            Call::Callback(j, _, r) => j.len() + request_size(r),
            Call::Composite(parts, post) => {
                parts.iter().map(request_size).sum::<usize>() + request_size(post)
            }
            Call::Part(c, p, cbs) => {
                c.len() + request_size(p) + cbs.iter().map(|(_, r)| request_size(r)).sum::<usize>()
            }
            Call::Append(j, a, _) => j.len() + a.len(),
            Call::Panic(m) => m.len(),
        }
    }

    /// Makes the call; `Ok` when the import answered the guest (with `ok`
    /// or `err`), the trap otherwise.
    async fn make(self, view: &mut ContextView<'_>) -> wasmtime::Result<()> {
        use context::Host as _;
        match self {
            Call::Set(n, v, j) => view.set_live_annotation(n, v, j).await.map(drop),
            Call::Get(n, t, p, j) => view.get_live_annotation(n, t, p, j).await.map(drop),
            Call::Put(r) => view.put(r).await.map(drop),
            Call::Many(requests) => view.put_many(requests).await.map(drop),
            Call::Callback(j, o, r) => view.add_callback(j, o, r).await.map(drop),
            Call::Composite(parts, post) => view
                .put_composite(wtypes::CompositeKind::Parallel, parts, post)
                .await
                .map(drop),
            Call::Part(c, p, cbs) => view.add_part(c, p, cbs).await.map(drop),
            Call::Held(r) => view.put_held(r).await.map(drop),
            Call::Append(j, a, w) => view.append_args(j, a, w).await.map(drop),
            Call::Panic(m) => view.report_panic(m).await,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_import_answers_or_names_the_argument_cap(calls in proptest::collection::vec(call(), 1..6)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut state = ContextState::new(Arc::new(Accepting));
        for call in calls {
            let size = call.size();
            let answer = runtime.block_on(call.make(&mut ContextView::new(&mut state)));
            match answer {
                Ok(()) => prop_assert!(size <= ARGUMENT_MAX, "{size} bytes answered"),
                Err(error) => {
                    let too_large = error.downcast_ref::<ArgumentTooLarge>();
                    prop_assert!(too_large.is_some(), "a trap that is not the cap: {error:#}");
                    let too_large = too_large.unwrap();
                    prop_assert_eq!(too_large.size, size);
                    prop_assert_eq!(too_large.cap, ARGUMENT_MAX);
                    prop_assert!(size > ARGUMENT_MAX);
                }
            }
        }
        // A panic message is kept, but never more than its own cap.
        prop_assert!(state.panic_message().is_none_or(|m| m.len() <= PANIC_MESSAGE_MAX));
    }
}
