//! `hello`: the smallest wasync jobs, used by the host's tests: a constant,
//! an echo, arithmetic, zc.async's string scribbler, a sleeper and a job
//! that writes to stdout and stderr.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p wasync-example-hello`
//! (→ `hello.wasm`).

#![deny(missing_docs)]

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use wasync_guest::job;

/// Always `"200 OK"` (zc.async's `imaginaryNetworkCall`).
#[job]
pub fn hello() -> &'static str {
    "200 OK"
}

/// Returns its argument unchanged.
#[job]
pub fn echo(value: Value) -> Value {
    value
}

/// `a + b` (wrapping, so any two `i64` give an answer).
#[job]
pub fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// zc.async's `I_scribble_on_strings`: `text + ": SCRIBBLED"`.
#[job]
pub fn scribble(text: String) -> String {
    text + ": SCRIBBLED"
}

/// Sleeps `ms` milliseconds (a WASI clock wait) and returns `ms`: a long
/// job for tests of timeouts and concurrency.
#[job]
pub fn sleep(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Writes `text` and a newline to stdout and to stderr; returns null. For
/// tests of captured output.
#[job]
pub fn write_output(text: String) {
    // Output goes to bounded host buffers; a full buffer is not the job's
    // failure, so write errors are ignored on purpose.
    let _ = writeln!(std::io::stdout(), "{text}");
    let _ = std::io::stdout().flush();
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// This job as the host describes it (`wasync_guest::job()`): id, queue,
/// module, module name, function, args, attempt and the annotations at
/// start. For tests of retries, routing and `get-job`.
#[job]
pub fn job_info() -> wasync_guest::JobInfo {
    wasync_guest::job()
}

/// The wall-clock time when the guest runs, in microseconds since the Unix
/// epoch: benchmarks compare it with the time of the put to measure how
/// long a job takes to start.
#[job]
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

wasync_guest::export_jobs!(
    hello,
    echo,
    add,
    scribble,
    sleep,
    write_output,
    job_info,
    now_micros
);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing;

    use super::jobs;

    fn run(function: &str, args: serde_json::Value) -> serde_json::Value {
        testing::run(jobs(), function, args)
            .unwrap()
            .value()
            .unwrap()
    }

    #[test]
    fn hello_echo_add_scribble() {
        assert_eq!(run("hello", json!([])), json!("200 OK"));
        let doc = json!({"a": [1, 2.5, null], "b": {"c": "d"}});
        assert_eq!(run("echo", json!([doc])), doc);
        assert_eq!(run("echo", json!({"value": "x"})), json!("x"));
        assert_eq!(run("add", json!([2, 40])), json!(42));
        assert_eq!(run("add", json!([i64::MAX, 1])), json!(i64::MIN));
        assert_eq!(run("scribble", json!(["hi"])), json!("hi: SCRIBBLED"));
    }

    #[test]
    fn sleep_returns_its_argument_after_sleeping() {
        let start = std::time::Instant::now();
        assert_eq!(run("sleep", json!([20])), json!(20));
        assert!(start.elapsed() >= std::time::Duration::from_millis(20));
    }

    #[test]
    fn now_micros_is_the_wall_clock() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let now = run("now_micros", json!([])).as_u64().unwrap();
        assert!(now >= before && now < before + 60_000_000, "{before} {now}");
    }

    #[test]
    fn write_output_returns_null() {
        assert_eq!(run("write_output", json!(["to both streams"])), json!(null));
    }

    #[test]
    fn job_info_describes_the_running_job() {
        let ctx = testing::FakeContext::new();
        ctx.set_annotation("note", "before start");
        let out = ctx
            .run(jobs(), "job_info", json!({}))
            .unwrap()
            .value()
            .unwrap();
        assert_eq!(out["id"], json!(ctx.id()));
        assert_eq!(out["function"], json!("job_info"));
        assert_eq!(out["args"], json!({}));
        assert_eq!(out["attempt"], json!(1));
        assert_eq!(out["queue"], json!(""));
        assert_eq!(out["module_name"], json!(null));
        assert_eq!(out["annotations"], json!({"note": "before start"}));
    }

    #[test]
    fn the_registry_lists_every_job() {
        let names: Vec<_> = jobs().names().collect();
        assert_eq!(
            names,
            [
                "hello",
                "echo",
                "add",
                "scribble",
                "sleep",
                "write_output",
                "job_info",
                "now_micros"
            ]
        );
    }
}
