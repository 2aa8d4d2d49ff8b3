//! `hostile`: jobs written the way an attacker would, for the tests of
//! issue 13 (limits that always hold, a host that never panics): each one
//! tries to take more than a job may — time, memory, result size, puts,
//! host-call arguments — and must end with a typed failure or a handled
//! error, the host unharmed.
//!
//! The import calls go through the raw component bindings, not the SDK's
//! checked wrappers, so that the host sees exactly what a hand-written
//! guest could send.

#![deny(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use serde_json::{Value, json};
use wasync_guest::{Error, job};

/// Loops forever without calling the host: only fuel, the time limit or a
/// cancel stops it.
#[job]
pub fn spin() -> u64 {
    let mut x = black_box(1u64);
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Sleeps for ever in a WASI clock wait (a host-side sleep the epoch never
/// interrupts).
#[job]
pub fn sleep_forever() -> u64 {
    loop {
        std::thread::sleep(Duration::from_secs(u64::from(u32::MAX)));
    }
}

/// Allocates 1 MiB at a time, touching every page, until the allocator
/// fails (the guest then aborts: `memory-limit`).
#[job]
pub fn memory_bomb() -> u64 {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        kept.push(black_box(chunk));
    }
}

/// Returns a string of `bytes` bytes (its JSON is 2 bytes longer).
#[job]
pub fn huge_result(bytes: u64) -> String {
    "x".repeat(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// Puts `n` jobs (`hostile.noop`) as fast as it can; stops at the first
/// put the host refuses. Returns `{"put": <count>}` and, if a put was
/// refused, `"error": <the host's message>`.
#[job]
pub fn put_storm(n: u64) -> Value {
    for i in 0..n {
        if let Err(error) = raw::put(&raw::request("noop", "[]")) {
            return json!({ "put": i, "error": error });
        }
    }
    json!({ "put": n })
}

/// Does nothing: what [`put_storm`] puts.
#[job]
pub fn noop() {}

/// Calls import `import` with an argument of `bytes` bytes; returns what
/// the host answered (when it answers at all).
#[job]
pub fn huge_argument(import: String, bytes: u64) -> Result<Value, Error> {
    let big = "x".repeat(usize::try_from(bytes).unwrap_or(usize::MAX));
    let answer = match import.as_str() {
        "set-live-annotation" => raw::set_live_annotation("a", &big, None).map(|()| json!(null)),
        "get-live-annotation" => raw::get_live_annotation(&big, 0, 0, None).map(|v| json!(v)),
        "put" => raw::put(&raw::request("noop", &big)).map(Value::String),
        "put-many" => raw::put_many(&[raw::request("noop", &big)]).map(|n| json!(n)),
        "append-args" => raw::append_args(&big, "[]", 0).map(|n| json!(n)),
        "report-panic" => {
            raw::report_panic(&big);
            Ok(json!(null))
        }
        other => {
            return Err(Error::permanent(
                "bad-arguments",
                format!("no import `{other}`"),
            ));
        }
    };
    Ok(json!({ "answer": answer }))
}

/// Calls every `context` import `rounds` times with pseudo-random
/// arguments from `seed`: strings up to `max_len` bytes of awkward
/// characters (quotes, braces, NUL, multi-byte), garbage ids, random
/// numbers. Returns how many calls the host answered with `ok` and with
/// `err`.
#[job]
pub fn call_every_import(seed: u64, rounds: u32, max_len: u32) -> Value {
    let mut rng = Rng(seed | 1);
    let (mut ok, mut err) = (0u32, 0u32);
    let mut count = |answer: Result<(), String>| match answer {
        Ok(()) => ok += 1,
        Err(_) => err += 1,
    };
    for _ in 0..rounds {
        raw::get_job();
        let name = rng.text(max_len);
        let value = rng.text(max_len);
        let job = rng.maybe_id(max_len);
        count(raw::set_live_annotation(&name, &value, job.as_deref()));
        count(
            raw::get_live_annotation(
                &name,
                rng.below(3) as u32,
                rng.next() as u32,
                job.as_deref(),
            )
            .map(drop),
        );
        let request = rng.request(max_len);
        count(raw::put(&request).map(drop));
        let requests: Vec<_> = (0..rng.below(4)).map(|_| rng.request(max_len)).collect();
        count(raw::put_many(&requests).map(drop));
        count(raw::put_held(&rng.request(max_len)).map(drop));
        count(
            raw::add_callback(
                &rng.id_or_text(max_len),
                rng.below(3),
                &rng.request(max_len),
            )
            .map(drop),
        );
        let parts: Vec<_> = (0..rng.below(4)).map(|_| rng.request(max_len)).collect();
        count(raw::put_composite(rng.below(2) == 0, &parts, &rng.request(max_len)).map(drop));
        let callbacks: Vec<_> = (0..rng.below(3))
            .map(|_| (rng.below(3), rng.request(max_len)))
            .collect();
        count(raw::add_part(&rng.id_or_text(max_len), &rng.request(max_len), &callbacks).map(drop));
        count(
            raw::append_args(
                &rng.id_or_text(max_len),
                &rng.text(max_len),
                rng.next() as u32,
            )
            .map(drop),
        );
        raw::report_panic(&rng.text(max_len));
    }
    json!({ "ok": ok, "err": err })
}

/// xorshift64*: arguments that look random and are the same for a seed.
struct Rng(u64);

/// Characters that make parsers and escapers work.
const AWKWARD: &[&str] = &[
    "\"", "\\", "{", "}", "[", "]", ",", ":", "\0", "\n", "é", "😀", "null", "-", "1", "e9", "a",
    " ", "\u{7f}", "\u{fffd}",
];

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Mostly short, sometimes up to `max_len` bytes.
    fn text(&mut self, max_len: u32) -> String {
        let len = if self.below(8) == 0 {
            self.below(u64::from(max_len) + 1)
        } else {
            self.below(16)
        } as usize;
        let mut text = String::new();
        while text.len() < len {
            text.push_str(AWKWARD[self.below(AWKWARD.len() as u64) as usize]);
        }
        text
    }

    fn id_or_text(&mut self, max_len: u32) -> String {
        if self.below(2) == 0 {
            format!(
                "01{:030x}",
                u128::from(self.next()) << 64 | u128::from(self.next())
            )
        } else {
            self.text(max_len)
        }
    }

    fn maybe_id(&mut self, max_len: u32) -> Option<String> {
        (self.below(2) == 0).then(|| self.id_or_text(max_len))
    }

    fn maybe_text(&mut self, max_len: u32) -> Option<String> {
        (self.below(2) == 0).then(|| self.text(max_len))
    }

    fn request(&mut self, max_len: u32) -> raw::Request {
        let (function, args) = if self.below(3) == 0 {
            ("noop".to_owned(), "[]".to_owned())
        } else {
            (self.text(max_len), self.text(max_len))
        };
        raw::Request {
            module: self.maybe_text(max_len),
            function,
            args,
            queue: self.maybe_text(max_len),
            begin_after_ms: (self.below(2) == 0).then(|| self.next()),
            begin_by_ms: (self.below(2) == 0).then(|| self.next()),
            quota_names: (0..self.below(3)).map(|_| self.text(max_len)).collect(),
            retry: self.maybe_text(max_len),
            quota_keys: (0..self.below(2))
                .map(|_| (self.text(max_len), self.text(max_len)))
                .collect(),
            broadcast: false,
            priority: self.next() as i32,
            unique: None,
        }
    }
}

/// The `context` imports, called with exactly what the guest chooses.
#[cfg(target_arch = "wasm32")]
mod raw {
    use wasync_guest::__private::bindings::wasync::job::context;
    use wasync_guest::__private::bindings::wasync::job::types as wit;

    pub use wit::JobRequest as Request;

    pub fn request(function: &str, args: &str) -> Request {
        Request {
            module: None,
            function: function.to_owned(),
            args: args.to_owned(),
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

    fn on(n: u64) -> wit::CallbackOn {
        match n {
            0 => wit::CallbackOn::Always,
            1 => wit::CallbackOn::Success,
            _ => wit::CallbackOn::Failure,
        }
    }

    pub fn get_job() -> wit::JobInfo {
        context::get_job()
    }

    pub fn set_live_annotation(name: &str, value: &str, job: Option<&str>) -> Result<(), String> {
        context::set_live_annotation(name, value, job)
    }

    pub fn get_live_annotation(
        name: &str,
        timeout_ms: u32,
        poll_ms: u32,
        job: Option<&str>,
    ) -> Result<Option<String>, String> {
        context::get_live_annotation(name, timeout_ms, poll_ms, job)
    }

    pub fn put(request: &Request) -> Result<String, String> {
        context::put(request)
    }

    pub fn put_held(request: &Request) -> Result<String, String> {
        context::put_held(request)
    }

    /// How many jobs the host answered for.
    pub fn put_many(requests: &[Request]) -> Result<usize, String> {
        context::put_many(requests).map(|answers| answers.len())
    }

    pub fn add_callback(job: &str, when: u64, request: &Request) -> Result<String, String> {
        context::add_callback(job, on(when), request)
    }

    pub fn put_composite(
        serial: bool,
        parts: &[Request],
        post: &Request,
    ) -> Result<String, String> {
        let kind = if serial {
            wit::CompositeKind::Serial
        } else {
            wit::CompositeKind::Parallel
        };
        context::put_composite(kind, parts, post)
    }

    pub fn add_part(
        composite: &str,
        part: &Request,
        callbacks: &[(u64, Request)],
    ) -> Result<String, String> {
        let callbacks: Vec<(wit::CallbackOn, Request)> =
            callbacks.iter().map(|(n, r)| (on(*n), r.clone())).collect();
        context::add_part(composite, part, &callbacks)
    }

    pub fn append_args(job: &str, args: &str, put_when: u32) -> Result<u32, String> {
        context::append_args(job, args, put_when)
    }

    pub fn report_panic(message: &str) {
        context::report_panic(message)
    }
}

/// Natively there is no host: every import answers an error, so the
/// functions above can be unit-tested for their own logic.
#[cfg(not(target_arch = "wasm32"))]
mod raw {
    const NO_HOST: &str = "no host natively";

    /// The shape of the WIT `job-request`.
    #[derive(Debug, Clone)]
    #[allow(dead_code)]
    pub struct Request {
        pub module: Option<String>,
        pub function: String,
        pub args: String,
        pub queue: Option<String>,
        pub begin_after_ms: Option<u64>,
        pub begin_by_ms: Option<u64>,
        pub quota_names: Vec<String>,
        pub retry: Option<String>,
        pub quota_keys: Vec<(String, String)>,
        pub broadcast: bool,
        pub priority: i32,
        pub unique: Option<()>,
    }

    pub fn request(function: &str, args: &str) -> Request {
        Request {
            module: None,
            function: function.to_owned(),
            args: args.to_owned(),
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

    pub fn get_job() {}

    pub fn set_live_annotation(_: &str, _: &str, _: Option<&str>) -> Result<(), String> {
        Err(NO_HOST.into())
    }

    pub fn get_live_annotation(
        _: &str,
        _: u32,
        _: u32,
        _: Option<&str>,
    ) -> Result<Option<String>, String> {
        Err(NO_HOST.into())
    }

    pub fn put(_: &Request) -> Result<String, String> {
        Err(NO_HOST.into())
    }

    pub fn put_held(_: &Request) -> Result<String, String> {
        Err(NO_HOST.into())
    }

    pub fn put_many(_: &[Request]) -> Result<usize, String> {
        Err(NO_HOST.into())
    }

    pub fn add_callback(_: &str, _: u64, _: &Request) -> Result<String, String> {
        Err(NO_HOST.into())
    }

    pub fn put_composite(_: bool, _: &[Request], _: &Request) -> Result<String, String> {
        Err(NO_HOST.into())
    }

    pub fn add_part(_: &str, _: &Request, _: &[(u64, Request)]) -> Result<String, String> {
        Err(NO_HOST.into())
    }

    pub fn append_args(_: &str, _: &str, _: u32) -> Result<u32, String> {
        Err(NO_HOST.into())
    }

    pub fn report_panic(_: &str) {}
}

wasync_guest::export_jobs!(
    spin,
    sleep_forever,
    memory_bomb,
    huge_result,
    put_storm,
    noop,
    huge_argument,
    call_every_import,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rng_repeats_for_a_seed_and_bounds_lengths() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..100 {
            let text = a.text(40);
            assert_eq!(text, b.text(40));
            // One awkward piece may overshoot the length by its own size.
            assert!(text.len() <= 40 + 4, "{text:?}");
        }
    }

    #[test]
    fn natively_puts_are_refused_and_the_storm_stops_at_once() {
        assert_eq!(put_storm(5), json!({"put": 0, "error": "no host natively"}));
        assert_eq!(huge_result(3), "xxx");
    }

    #[test]
    fn every_function_is_registered() {
        let names: Vec<_> = jobs().names().collect();
        for name in [
            "spin",
            "sleep_forever",
            "memory_bomb",
            "huge_result",
            "put_storm",
            "call_every_import",
        ] {
            assert!(names.contains(&name), "{name}");
        }
    }
}
