//! Runs the example components in wasmtime behind a minimal in-memory
//! `context`, to check the guest SDK's component side: the `run` export,
//! argument binding, outcomes, job-errors, `put`, live annotations, the
//! panic hook's `report-panic` and function names in trap backtraces.
//! (The real host, with limits and a database, lives in `host/`.)

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "job",
});

use wasync::job::types::{JobInfo, JobRequest};

const JOB_ID: &str = "0190a5c0-0000-7000-8000-00000000000a";

/// The state of one run: WASI plus the fake queue behind `context`.
struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    function: String,
    args: String,
    annotations: BTreeMap<(String, String), String>,
    puts: Vec<JobRequest>,
    panics: Vec<String>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasync::job::types::Host for Host {}

impl wasync::job::context::Host for Host {
    fn get_job(&mut self) -> JobInfo {
        JobInfo {
            id: JOB_ID.into(),
            queue: String::new(),
            module: format!("sha256:{}", "0".repeat(64)),
            module_name: None,
            function: self.function.clone(),
            args: self.args.clone(),
            attempt: 2,
            annotations: vec![("note".into(), "[1,2]".into())],
        }
    }

    fn set_live_annotation(
        &mut self,
        name: String,
        value: String,
        job: Option<String>,
    ) -> Result<(), String> {
        serde_check(&value)?;
        let job = job.unwrap_or_else(|| JOB_ID.into());
        self.annotations.insert((job, name), value);
        Ok(())
    }

    fn get_live_annotation(
        &mut self,
        name: String,
        _timeout_ms: u32,
        _poll_ms: u32,
        job: Option<String>,
    ) -> Result<Option<String>, String> {
        let job = job.unwrap_or_else(|| JOB_ID.into());
        Ok(self.annotations.get(&(job, name)).cloned())
    }

    fn put(&mut self, request: JobRequest) -> Result<String, String> {
        if request.function.is_empty() {
            return Err("the function name is empty".into());
        }
        self.puts.push(request);
        Ok(format!("0190a5c0-0000-7000-8000-{:012x}", self.puts.len()))
    }

    fn put_many(
        &mut self,
        requests: Vec<JobRequest>,
    ) -> Result<Vec<wasync::job::types::PutAnswer>, String> {
        // All or none, as the host puts them.
        if let Some(i) = requests.iter().position(|r| r.function.is_empty()) {
            return Err(format!("item {i}: the function name is empty"));
        }
        requests
            .into_iter()
            .map(|request| {
                self.put(request).map(|id| wasync::job::types::PutAnswer {
                    id,
                    duplicate: false,
                })
            })
            .collect()
    }

    fn report_panic(&mut self, message: String) {
        self.panics.push(message);
    }

    // Callbacks, composites and held jobs: recorded as puts (what the host
    // does with them is tested in `host/`).
    fn add_callback(
        &mut self,
        _job: String,
        _on: wasync::job::types::CallbackOn,
        callback: JobRequest,
    ) -> Result<String, String> {
        self.put(callback)
    }

    fn put_composite(
        &mut self,
        _kind: wasync::job::types::CompositeKind,
        parts: Vec<JobRequest>,
        postprocess: JobRequest,
    ) -> Result<String, String> {
        for part in parts {
            self.put(part)?;
        }
        self.put(postprocess)
    }

    fn add_part(
        &mut self,
        _composite: String,
        part: JobRequest,
        callbacks: Vec<(wasync::job::types::CallbackOn, JobRequest)>,
    ) -> Result<String, String> {
        let id = self.put(part)?;
        for (_, callback) in callbacks {
            self.put(callback)?;
        }
        Ok(id)
    }

    fn put_held(&mut self, request: JobRequest) -> Result<String, String> {
        self.put(request)
    }

    fn append_args(&mut self, _job: String, args: String, _put_when: u32) -> Result<u32, String> {
        serde_check(&args)?;
        Ok(1)
    }
}

/// Not a JSON parser: the guest SDK serializes with serde_json, so a
/// value that does not even start like JSON means a bug.
fn serde_check(value: &str) -> Result<(), String> {
    match value.trim_start().chars().next() {
        Some('"' | '{' | '[' | 't' | 'f' | 'n' | '-' | '0'..='9') => Ok(()),
        _ => Err(format!("not JSON: {value:?}")),
    }
}

struct Run {
    result: wasmtime::Result<Result<Outcome, JobError>>,
    host: Host,
    stdout: String,
    stderr: String,
}

/// One engine for all tests, and each component compiled once.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(&Config::new()).expect("engine"))
}

fn component(engine: &Engine, name: &str) -> Component {
    static COMPILED: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let mut compiled = COMPILED.get_or_init(Default::default).lock().unwrap();
    compiled
        .entry(name.to_owned())
        .or_insert_with(|| {
            Component::from_file(engine, wasync_example_components::path(name))
                .expect("the component compiles")
        })
        .clone()
}

/// Runs `function(args)` of example `name` in a fresh store, with the
/// annotations `preset` already set on this job.
fn run_with(
    engine: &Engine,
    name: &str,
    function: &str,
    args: &str,
    preset: &[(&str, &str)],
) -> Run {
    let component = component(engine, name);
    let mut linker: Linker<Host> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi links");
    Job::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |h| h).expect("context links");
    let stdout = MemoryOutputPipe::new(1 << 16);
    let stderr = MemoryOutputPipe::new(1 << 16);
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let host = Host {
        wasi,
        table: ResourceTable::new(),
        function: function.into(),
        args: args.into(),
        annotations: preset
            .iter()
            .map(|(k, v)| ((JOB_ID.to_owned(), (*k).to_owned()), (*v).to_owned()))
            .collect(),
        puts: Vec::new(),
        panics: Vec::new(),
    };
    let mut store = Store::new(engine, host);
    let job = Job::instantiate(&mut store, &component, &linker).expect("instantiates");
    let result = job.call_run(&mut store, function, &args.to_owned());
    Run {
        result,
        host: store.into_data(),
        stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
    }
}

fn value(run: &Run) -> &str {
    match &run.result {
        Ok(Ok(Outcome::Value(json))) => json,
        other => panic!("expected a value, got {other:?}"),
    }
}

fn job_error(run: &Run) -> &JobError {
    match &run.result {
        Ok(Err(e)) => e,
        other => panic!("expected a job-error, got {other:?}"),
    }
}

#[test]
fn hello_values_and_argument_errors() {
    assert_eq!(
        value(&run_with(engine(), "hello", "hello", "[]", &[])),
        "\"200 OK\""
    );
    assert_eq!(
        value(&run_with(
            engine(),
            "hello",
            "add",
            r#"{"a":40,"b":2}"#,
            &[]
        )),
        "42"
    );
    assert_eq!(
        value(&run_with(engine(), "hello", "scribble", r#"["x"]"#, &[])),
        "\"x: SCRIBBLED\""
    );
    let run = run_with(engine(), "demo", "increase", "[5]", &[]);
    assert_eq!(value(&run), "6");

    let run = run_with(engine(), "hello", "add", "[1]", &[]);
    let e = job_error(&run);
    assert_eq!(e.kind, "bad-arguments");
    assert_eq!(e.message, "add: missing required argument `b`");
    assert!(e.permanent);
    let run = run_with(engine(), "hello", "nope", "[]", &[]);
    let e = job_error(&run);
    assert_eq!(e.kind, "unknown-function");
    assert!(e.message.contains(
        "(it has: hello, echo, add, scribble, sleep, write_output, job_info, now_micros)"
    ));
}

#[test]
fn get_job_reaches_the_guest() {
    let run = run_with(engine(), "hello", "job_info", r#"{}"#, &[]);
    let expected = format!(
        r#"{{"id":"{JOB_ID}","queue":"","module":"sha256:{}","module_name":null,"function":"job_info","args":{{}},"attempt":2,"annotations":{{"note":[1,2]}}}}"#,
        "0".repeat(64)
    );
    assert_eq!(value(&run), expected);
}

#[test]
fn output_is_written_to_wasi_streams() {
    let run = run_with(engine(), "hello", "write_output", r#"["line one"]"#, &[]);
    assert_eq!(value(&run), "null");
    assert_eq!(run.stdout, "line one\n");
    assert_eq!(run.stderr, "line one\n");
}

#[test]
fn errors_panics_and_traps() {
    let run = run_with(engine(), "failing", "typed_error", r#"["k"]"#, &[]);
    let e = job_error(&run);
    assert_eq!(
        (e.kind.as_str(), e.permanent),
        ("LookupError::NotFound", false)
    );
    let run = run_with(engine(), "failing", "permanent_error", "[]", &[]);
    assert!(job_error(&run).permanent);

    // A panic: reported through `report-panic` before the abort's trap.
    let run = run_with(engine(), "failing", "panics", r#"["it hurts"]"#, &[]);
    let trap = run.result.as_ref().expect_err("a panic traps");
    assert_eq!(run.host.panics.len(), 1, "{:?}", run.host.panics);
    let message = &run.host.panics[0];
    assert!(message.starts_with("it hurts (at "), "{message}");
    assert!(message.contains("failing/src/lib.rs"), "{message}");
    // The default hook's output is kept too.
    assert!(run.stderr.contains("it hurts"), "{}", run.stderr);
    let backtrace = format!("{trap:?}");
    for frame in ["failing::explode", "failing::validate_input"] {
        assert!(
            backtrace.contains(frame),
            "{frame} missing from {backtrace}"
        );
    }

    // A real trap: nothing reported, named frames in the backtrace.
    let run = run_with(engine(), "failing", "trap", "[]", &[]);
    let trap = run.result.as_ref().expect_err("traps");
    assert!(run.host.panics.is_empty());
    let backtrace = format!("{trap:?}");
    for frame in [
        "failing::hit_unreachable",
        "failing::corrupt_state",
        "failing::trap",
    ] {
        assert!(
            backtrace.contains(frame),
            "{frame} missing from {backtrace}"
        );
    }
}

#[test]
fn put_and_await() {
    let run = run_with(engine(), "fanout", "first_job", "[]", &[]);
    match &run.result {
        Ok(Ok(Outcome::AwaitJob(id))) => assert!(id.ends_with("000000000001")),
        other => panic!("expected await-job, got {other:?}"),
    }
    let put = &run.host.puts[0];
    assert_eq!(
        (put.function.as_str(), put.args.as_str()),
        ("second_job", "[21]")
    );
    assert_eq!((&put.module, &put.queue), (&None, &None));
}

#[test]
fn live_annotations() {
    let run = run_with(
        engine(),
        "annotate",
        "annotate_status",
        "[]",
        &[("flag", "true")],
    );
    assert_eq!(value(&run), "42");
    let get = |name: &str| {
        run.host
            .annotations
            .get(&(JOB_ID.to_owned(), name.to_owned()))
    };
    assert_eq!(get("status").map(String::as_str), Some("\"active\""));
    assert_eq!(get("flag_seen").map(String::as_str), Some("true"));
}

#[test]
fn hash_matches_native() {
    let run = run_with(engine(), "hash", "sha256_rounds", "[1000, 10]", &[]);
    assert_eq!(value(&run), format!("\"{}\"", hash_native(1000, 10)));
}

/// The same job, compiled natively.
fn hash_native(bytes: u64, rounds: u32) -> String {
    hash::sha256_rounds(bytes, rounds)
}
