//! End-to-end tests of the SDK natively: `#[job]` functions registered with
//! `export_jobs!`, run through `testing` exactly as the host would.

use std::collections::HashMap;
use std::fmt;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::testing::{self, FakeContext, WaitRecord};
use crate::{Await, Error, JobId, JobRequest, Outcome, job};

mod put_many;

#[job]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[job]
fn increase(counter: i64, value: Option<i64>) -> i64 {
    counter + value.unwrap_or(1)
}

#[job]
fn greet(
    name: String,
    #[default("hello".to_owned())] greeting: String,
    #[default] times: u32,
) -> String {
    format!("{greeting} {name} x{times}")
}

#[job]
fn nothing() {}

#[job]
fn r#type(r#in: String) -> String {
    r#in
}

#[job]
fn parse_int(text: String) -> Result<i64, std::num::ParseIntError> {
    text.parse()
}

#[derive(Debug)]
enum LookupError {
    NotFound(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound(code) => write!(f, "nothing under {code}"),
        }
    }
}

impl std::error::Error for LookupError {}

#[job]
fn lookup(code: String) -> Result<String, LookupError> {
    Err(LookupError::NotFound(code))
}

#[job]
fn chosen_error(permanent: bool) -> Result<(), Error> {
    let e = Error::new("quota", "over quota").with_detail("used 11 of 10");
    Err(e.with_permanent(permanent))
}

#[job]
fn question_mark(text: String) -> Result<u8, Error> {
    Ok(text.parse::<u8>()?)
}

#[job]
fn string_error() -> Result<u8, String> {
    Err("it broke".to_owned())
}

#[job]
fn unjsonable() -> HashMap<(u8, u8), u8> {
    [((1, 2), 3)].into_iter().collect()
}

#[job]
fn await_plain(id: String) -> Await {
    Await(JobId::new(id))
}

#[job]
fn hand_over(value: i64) -> Result<Await, Error> {
    crate::set_live_annotation("stage", &"handing over")?;
    let id = crate::put(
        JobRequest::new("add")
            .arg(value)
            .arg(1)
            .queue("fast")
            .begin_by(Duration::from_secs(5))
            .retry(serde_json::json!({"max_attempts": 2})),
    )?;
    Ok(Await(id))
}

#[job]
fn put_badly(function: String) -> Result<JobId, Error> {
    crate::put(JobRequest::new(function))
}

#[job]
fn boom(message: String) -> u8 {
    panic!("{message}")
}

#[job]
fn whoami() -> Value {
    let info = crate::job();
    json!({
        "function": info.function,
        "args": info.args,
        "attempt": info.attempt,
        "queue": info.queue,
        "seen": info.annotation::<String>("seen").unwrap(),
    })
}

#[job]
fn wait_for(name: String, timeout_ms: u64, job: Option<String>) -> Result<Option<Value>, Error> {
    let job = job.map(JobId::new);
    crate::get_live_annotation(
        &name,
        Duration::from_millis(timeout_ms),
        Duration::from_millis(10),
        job.as_ref(),
    )
}

#[job]
fn set_on(job: String, name: String, value: Value) -> Result<(), Error> {
    crate::set_live_annotation_on(&JobId::new(job), &name, &value)
}

crate::export_jobs!(
    add,
    increase,
    greet,
    nothing,
    r#type,
    parse_int,
    lookup,
    chosen_error,
    question_mark,
    string_error,
    unjsonable,
    await_plain,
    hand_over,
    put_badly,
    boom,
    whoami,
    wait_for,
    set_on,
);

fn value(out: Result<Outcome, Error>) -> Value {
    out.unwrap().value().unwrap()
}

fn error(out: Result<Outcome, Error>) -> Error {
    out.unwrap_err()
}

#[test]
fn positional_and_named_arguments() {
    assert_eq!(value(testing::run(jobs(), "add", json!([1, 2]))), json!(3));
    assert_eq!(
        value(testing::run(jobs(), "add", json!({"b": 2, "a": 5}))),
        json!(7)
    );
    assert_eq!(
        value(testing::run(jobs(), "increase", json!([5]))),
        json!(6)
    );
    assert_eq!(
        value(testing::run(jobs(), "increase", json!([5, 10]))),
        json!(15)
    );
    assert_eq!(
        value(testing::run(
            jobs(),
            "increase",
            json!({"counter": 6, "value": 10})
        )),
        json!(16)
    );
    assert_eq!(
        value(testing::run(jobs(), "increase", json!([5, null]))),
        json!(6)
    );
    assert_eq!(
        value(testing::run(jobs(), "nothing", json!([]))),
        json!(null)
    );
    assert_eq!(
        value(testing::run(jobs(), "nothing", json!({}))),
        json!(null)
    );
    let ctx = FakeContext::new();
    assert_eq!(value(ctx.run_json(jobs(), "nothing", "null")), json!(null));
}

#[test]
fn defaults_and_raw_identifiers() {
    assert_eq!(
        value(testing::run(jobs(), "greet", json!(["ann"]))),
        json!("hello ann x0")
    );
    assert_eq!(
        value(testing::run(
            jobs(),
            "greet",
            json!({"name": "bo", "times": 2})
        )),
        json!("hello bo x2")
    );
    assert_eq!(
        value(testing::run(jobs(), "greet", json!(["cy", "hi", 3]))),
        json!("hi cy x3")
    );
    assert_eq!(
        value(testing::run(jobs(), "type", json!({"in": "x"}))),
        json!("x")
    );
}

#[test]
fn bad_arguments_name_the_parameter() {
    let e = error(testing::run(jobs(), "add", json!([1, 2, 3])));
    assert_eq!(e.kind, "bad-arguments");
    assert!(e.permanent);
    assert_eq!(e.message, "add: takes 2 arguments (a, b) but 3 were given");
    let e = error(testing::run(jobs(), "add", json!({"a": 1, "c": 2})));
    assert_eq!(e.message, "add: unknown argument `c` (parameters: a, b)");
    let e = error(testing::run(jobs(), "add", json!([1])));
    assert_eq!(e.message, "add: missing required argument `b`");
    let e = error(testing::run(jobs(), "add", json!([1, "two"])));
    assert!(
        e.message
            .starts_with("add: argument `b`: invalid type: string \"two\""),
        "{}",
        e.message
    );
    let e = error(testing::run(jobs(), "add", json!([1, null])));
    assert!(
        e.message
            .starts_with("add: argument `b`: invalid type: null"),
        "{}",
        e.message
    );
    let e = error(testing::run(jobs(), "nothing", json!({"x": 1})));
    assert_eq!(
        e.message,
        "nothing: unknown argument `x` (it takes no arguments)"
    );
    let e = error(testing::run(jobs(), "add", json!("1, 2")));
    assert_eq!(
        e.message,
        "add: arguments must be a JSON array or object, not a string"
    );
    let e = error(FakeContext::new().run_json(jobs(), "add", "[1,"));
    assert_eq!(e.kind, "bad-arguments");
    assert!(
        e.message.starts_with("add: arguments are not valid JSON"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_function_lists_the_known_ones() {
    let e = error(testing::run(jobs(), "subtract", json!([])));
    assert_eq!(e.kind, "unknown-function");
    assert!(e.permanent);
    assert!(
        e.message.starts_with(
            "no job function `subtract` in this module (it has: add, increase, greet,"
        ),
        "{}",
        e.message
    );
    assert_eq!(jobs().names().count(), 18);
}

#[test]
fn errors_become_job_errors() {
    let e = error(testing::run(jobs(), "parse_int", json!(["x"])));
    assert_eq!(
        (e.kind.as_str(), e.message.as_str()),
        ("ParseIntError", "invalid digit found in string")
    );
    assert!(!e.permanent);
    let e = error(testing::run(jobs(), "lookup", json!(["k9"])));
    assert_eq!(e.kind, "LookupError::NotFound");
    assert_eq!(e.message, "nothing under k9");
    assert_eq!(e.detail.as_deref(), Some("NotFound(\"k9\")"));
    let e = error(testing::run(jobs(), "chosen_error", json!([true])));
    assert_eq!(
        e,
        Error::permanent("quota", "over quota").with_detail("used 11 of 10")
    );
    assert!(!error(testing::run(jobs(), "chosen_error", json!([false]))).permanent);
    let e = error(testing::run(jobs(), "question_mark", json!(["300"])));
    assert_eq!(e.kind, "ParseIntError");
    assert_eq!(
        value(testing::run(jobs(), "question_mark", json!(["30"]))),
        json!(30)
    );
    let e = error(testing::run(jobs(), "string_error", json!([])));
    assert_eq!((e.kind.as_str(), e.message.as_str()), ("error", "it broke"));
    let e = error(testing::run(jobs(), "unjsonable", json!([])));
    assert_eq!(e.kind, "json");
    assert!(
        e.message.starts_with("the result cannot be JSON"),
        "{}",
        e.message
    );
}

#[test]
fn await_outcomes() {
    let out = testing::run(jobs(), "await_plain", json!(["abc"])).unwrap();
    assert_eq!(out, Outcome::AwaitJob(JobId::new("abc")));

    let ctx = FakeContext::new();
    let out = ctx.run(jobs(), "hand_over", json!([41])).unwrap();
    assert_eq!(ctx.annotation("stage"), Some(json!("handing over")));
    let puts = ctx.puts();
    assert_eq!(puts.len(), 1);
    let put = &puts[0];
    assert_eq!(out.awaited(), Some(&put.id));
    assert_eq!(put.parent, ctx.id());
    assert_eq!((put.function.as_str(), &put.args), ("add", &json!([41, 1])));
    assert_eq!(put.queue.as_deref(), Some("fast"));
    assert_eq!(put.module, None);
    assert_eq!(put.begin_by_ms, Some(5000));
    assert_eq!(put.begin_after_ms, None);
    assert_eq!(put.retry, Some(json!({"max_attempts": 2})));
    // The put job runs as itself, in the queue it was put in.
    assert_eq!(value(ctx.run_put(jobs(), put)), json!(42));
    assert_eq!(ctx.for_job(&put.id).job_info().queue, "fast");
}

#[test]
fn put_refusals_are_context_errors() {
    let e = error(testing::run(jobs(), "put_badly", json!([""])));
    assert_eq!(e.kind, "context");
    assert_eq!(e.message, "put: the function name is empty");
}

#[test]
fn panics_are_reported_with_message_and_location() {
    let ctx = FakeContext::new();
    let e = error(ctx.run(jobs(), "boom", json!(["kaboom"])));
    assert_eq!(e.kind, "panic");
    assert!(
        e.message.starts_with("kaboom (at guest-sdk/src/tests.rs:"),
        "{}",
        e.message
    );
    assert_eq!(ctx.panics(), vec![e.message.clone()]);
    // The fake is still usable after a panic.
    assert_eq!(value(ctx.run(jobs(), "add", json!([1, 1]))), json!(2));
}

#[test]
fn job_info_reflects_the_call() {
    let ctx = FakeContext::new();
    ctx.set_annotation("seen", "yes");
    let mut info = ctx.job_info();
    info.attempt = 3;
    info.queue = "q".into();
    let ctx = ctx.with_job_info(info);
    let out = value(ctx.run(jobs(), "whoami", json!({})));
    assert_eq!(
        out,
        json!({"function": "whoami", "args": {}, "attempt": 3, "queue": "q", "seen": "yes"})
    );
}

#[test]
fn live_annotations_between_jobs() {
    let ctx = FakeContext::new();
    let other = ctx.add_job();
    // Absent: answered at once (virtual wait), and recorded.
    let out = value(ctx.run(jobs(), "wait_for", json!(["flag", 5000, other])));
    assert_eq!(out, json!(null));
    assert_eq!(
        ctx.waits(),
        vec![WaitRecord {
            job: other.clone(),
            name: "flag".into(),
            timeout: Duration::from_secs(5),
            poll: Duration::from_millis(10),
            found: false,
        }]
    );
    let out = ctx.run(jobs(), "set_on", json!([other, "flag", {"up": true}]));
    assert_eq!(value(out), json!(null));
    assert_eq!(ctx.annotation_on(&other, "flag"), Some(json!({"up": true})));
    let out = value(ctx.run(
        jobs(),
        "wait_for",
        json!({"name": "flag", "timeout_ms": 0, "job": other}),
    ));
    assert_eq!(out, json!({"up": true}));
    // Unknown jobs are refused like the host does.
    let e = error(ctx.run(jobs(), "set_on", json!(["nope", "flag", 1])));
    assert_eq!(
        (e.kind.as_str(), e.message.as_str()),
        ("context", "set_live_annotation: job nope does not exist")
    );
    let e = error(ctx.run(jobs(), "wait_for", json!(["flag", 0, "nope"])));
    assert_eq!(e.kind, "context");
}

#[test]
fn real_waits_see_annotations_set_by_another_thread() {
    let ctx = FakeContext::new().with_real_waits();
    let setter = ctx.clone();
    let handle = thread::spawn(move || {
        // Set the flag only once the job is blocked waiting for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while setter.waiters() == 0 {
            assert!(std::time::Instant::now() < deadline, "the job never waited");
            thread::yield_now();
        }
        setter.set_annotation("flag", 7);
    });
    let out = value(ctx.run(jobs(), "wait_for", json!(["flag", 10_000])));
    handle.join().unwrap();
    assert_eq!(out, json!(7));
    assert!(ctx.waits()[0].found);
}

#[test]
fn context_outside_a_job_is_not_initialized() {
    let e = crate::set_live_annotation("x", &1).unwrap_err();
    assert_eq!(e.kind, "context");
    assert!(e.message.contains("not initialized"), "{}", e.message);
    let e = crate::put(JobRequest::new("f")).unwrap_err();
    assert!(e.message.contains("not initialized"), "{}", e.message);
    let panic = std::panic::catch_unwind(crate::job).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("not initialized"), "{text}");
}
