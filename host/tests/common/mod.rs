//! Hand-written test components, independent of our guest SDK: core
//! modules in WAT turned into components with `wit-component`, against the
//! real `wit/job.wit`.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use wasync::model::JobSpec;
use wasync::model::{JobId, ModuleDigest};
use wasync::runtime::{JobContext, JobInfo};
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{ManglingAndAbi, Resolve};

/// The job contract.
pub const JOB_WIT: &str = include_str!("../../../wit/job.wit");

/// The job id the `await` function of [`GUEST_WAT`] returns.
pub const AWAITED_ID: &str = "0190a5b0-0000-7000-8000-000000000000";

/// A guest whose `run` dispatches on the first letter of the function name:
///
/// - `echo`: returns its arguments as the value;
/// - `await`: returns "await [`AWAITED_ID`]";
/// - `bad`: returns `{` (not JSON);
/// - `fail`: returns the job error `oops` / `it went wrong`, permanent;
/// - `panic`: reports the panic `boom: the guest panicked`, then aborts;
/// - `spin`: loops forever without calling the host;
/// - `hog`: grows its memory by 1 MiB until refused, then aborts;
/// - anything else: traps (`unreachable`).
pub const GUEST_WAT: &str = r#"
(module
  (import "wasync:job/context@0.3.0" "report-panic" (func $report_panic (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 64) "boom: the guest panicked")
  (data (i32.const 128) "oops")
  (data (i32.const 136) "it went wrong")
  (data (i32.const 160) "0190a5b0-0000-7000-8000-000000000000")
  (data (i32.const 200) "{")
  (func $cabi_realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
      (br_if $fits
        (i32.ne
          (memory.grow
            (i32.add
              (i32.shr_u
                (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
                (i32.const 16))
              (i32.const 1)))
          (i32.const -1)))
      (unreachable))
    (local.get $ptr))
  (func $spin (loop $forever (br $forever)))
  (func $hog
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable))
  (func $ok_string (param $case i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (local.get $case))
    (i32.store (i32.const 24) (local.get $ptr))
    (i32.store (i32.const 28) (local.get $len))
    (i32.const 16))
  (func $run (export "run") (param $fp i32) (param $fl i32) (param $ap i32) (param $al i32) (result i32)
    (local $c i32)
    (local.set $c (i32.load8_u (local.get $fp)))
    (if (i32.eq (local.get $c) (i32.const 101)) ;; e
      (then (return (call $ok_string (i32.const 0) (local.get $ap) (local.get $al)))))
    (if (i32.eq (local.get $c) (i32.const 97)) ;; a
      (then (return (call $ok_string (i32.const 1) (i32.const 160) (i32.const 36)))))
    (if (i32.eq (local.get $c) (i32.const 98)) ;; b
      (then (return (call $ok_string (i32.const 0) (i32.const 200) (i32.const 1)))))
    (if (i32.eq (local.get $c) (i32.const 102)) ;; f
      (then
        (i32.store8 (i32.const 16) (i32.const 1))
        (i32.store (i32.const 20) (i32.const 128))
        (i32.store (i32.const 24) (i32.const 4))
        (i32.store (i32.const 28) (i32.const 136))
        (i32.store (i32.const 32) (i32.const 13))
        (i32.store8 (i32.const 36) (i32.const 0))
        (i32.store8 (i32.const 48) (i32.const 1))
        (return (i32.const 16))))
    (if (i32.eq (local.get $c) (i32.const 112)) ;; p
      (then
        (call $report_panic (i32.const 64) (i32.const 24))
        (unreachable)))
    (if (i32.eq (local.get $c) (i32.const 115)) ;; s
      (then (call $spin)))
    (if (i32.eq (local.get $c) (i32.const 104)) ;; h
      (then (call $hog)))
    (unreachable))
)
"#;

/// [`GUEST_WAT`] as a component of the `job` world.
pub fn guest() -> Vec<u8> {
    job_component(GUEST_WAT)
}

/// A core module in WAT, encoded as a component of the `job` world.
pub fn job_component(core_wat: &str) -> Vec<u8> {
    let (resolve, world) = resolve("", "job");
    let mut module = wat::parse_str(core_wat).expect("valid WAT");
    encode(&mut module, &resolve, world)
}

/// A core module in WAT, encoded as a component of `world`, declared in
/// `extra_wit` (a package that may use `wasync:job`).
pub fn component_of(extra_wit: &str, world: &str, core_wat: &str) -> Vec<u8> {
    let (resolve, world) = resolve(extra_wit, world);
    let mut module = wat::parse_str(core_wat).expect("valid WAT");
    encode(&mut module, &resolve, world)
}

/// A component of `world`, whose functions all trap, declared in
/// `extra_wit` (a package that may use `wasync:job`).
pub fn dummy_component(extra_wit: &str, world: &str) -> Vec<u8> {
    let (resolve, world) = resolve(extra_wit, world);
    let mut module = dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    encode(&mut module, &resolve, world)
}

fn resolve(extra_wit: &str, world: &str) -> (Resolve, wit_parser::WorldId) {
    let mut resolve = Resolve::new();
    let job = resolve
        .push_str("job.wit", JOB_WIT)
        .expect("job.wit parses");
    let main = if extra_wit.is_empty() {
        job
    } else {
        resolve
            .push_str("extra.wit", extra_wit)
            .expect("extra WIT parses")
    };
    let world = resolve
        .select_world(&[main], Some(world))
        .expect("world exists");
    (resolve, world)
}

fn encode(module: &mut Vec<u8>, resolve: &Resolve, world: wit_parser::WorldId) -> Vec<u8> {
    embed_component_metadata(module, resolve, world, StringEncoding::UTF8).expect("metadata");
    ComponentEncoder::default()
        .module(module)
        .expect("module")
        .validate(true)
        .encode()
        .expect("component")
}

/// A context in memory that records what the job asks.
#[derive(Debug)]
pub struct TestContext {
    pub info: JobInfo,
    pub annotations: Mutex<Vec<(Option<JobId>, String, serde_json::Value)>>,
    pub puts: Mutex<Vec<JobSpec>>,
}

impl TestContext {
    /// A context for a job calling `function` of the module `digest`.
    pub fn new(digest: &ModuleDigest, function: &str, args: serde_json::Value) -> Arc<Self> {
        Arc::new(TestContext {
            info: JobInfo {
                id: JobId::new(),
                queue: "test".into(),
                module: digest.clone(),
                module_name: Some("test".into()),
                function: function.into(),
                args,
                attempt: 1,
                annotations: Vec::new(),
            },
            annotations: Mutex::default(),
            puts: Mutex::default(),
        })
    }
}

#[async_trait::async_trait]
impl JobContext for TestContext {
    fn job_info(&self) -> JobInfo {
        self.info.clone()
    }

    async fn set_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
        value: serde_json::Value,
    ) -> Result<(), String> {
        self.annotations
            .lock()
            .unwrap()
            .push((job, name.to_owned(), value));
        Ok(())
    }

    async fn get_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        Ok(self
            .annotations
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(j, n, _)| *j == job && n == name)
            .map(|(_, _, v)| v.clone()))
    }

    async fn put(&self, spec: JobSpec) -> Result<JobId, String> {
        self.puts.lock().unwrap().push(spec);
        Ok(JobId::new())
    }
}

/// This process's peak resident memory (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmHWM in /proc/self/status")
        * 1024
}
