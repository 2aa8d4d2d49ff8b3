//! `wasync run FILE FUNCTION [ARGS_JSON]`: runs one job locally, in the same
//! sandbox as the server, with no server and no database.
//!
//! Annotations live in memory; a `put` from the job is printed to stderr
//! (`{"put": {...}, "id": "..."}`) and answered with a fresh id, but the
//! job is not run.
//!
//! Exit codes: 0 and the result JSON on stdout (`{"await": "<id>"}` for an
//! await-job outcome); 1 and the failure as a JSON object with a `kind` on
//! stdout; 2 and a message on stderr for a usage or file error (unreadable
//! file, invalid component, bad `ARGS_JSON`). What the guest wrote to its
//! stdout and stderr goes to stderr.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::model::{JobId, JobSpec, ModuleDigest, RunOutcome};
use crate::runtime::{
    Compilation, JobCall, JobContext, JobInfo, Limits, PutAnswer, Runtime, RuntimeConfig,
};

/// Arguments of `wasync run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component (`.wasm`, built for `wasm32-wasip2`).
    pub file: PathBuf,
    /// The job function to call.
    pub function: String,
    /// Its arguments: a JSON array (positional) or object (named).
    #[arg(value_name = "ARGS_JSON", default_value = "[]")]
    pub args: String,
    /// Fuel budget (roughly, wasm instructions). Default: 10^12.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory limit, in bytes or with a unit (`64MiB`, `1GiB`). Default:
    /// 256 MiB.
    #[arg(long, value_parser = super::parse_size)]
    pub memory: Option<u64>,
    /// Wall-clock limit (`500ms`, `10s`, `2m`). Default: 10 minutes.
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// The most jobs the run may put (the fan-out cap). Default: 10000.
    #[arg(long)]
    pub put_cap: Option<u64>,
    /// Where compiled components are kept between runs. Default: `wasync/components`
    /// in the user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`).
    #[arg(long, env = "WASYNC_RUN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// The sandbox's limits and the HTTP origins the job may reach (as for
    /// `serve`; `--allow-http ORIGIN`).
    #[command(flatten)]
    pub sandbox: crate::sandbox_config::SandboxLayer,
}

/// Runs the command; returns the process exit code.
pub async fn run(args: RunArgs) -> ExitCode {
    let call_args: Value = match serde_json::from_str(&args.args) {
        Ok(value @ (Value::Array(_) | Value::Object(_))) => value,
        Ok(_) => return usage_error("ARGS_JSON must be a JSON array or object".into()),
        Err(e) => return usage_error(format!("ARGS_JSON is not valid JSON: {e}")),
    };
    let bytes = match tokio::fs::read(&args.file).await {
        Ok(bytes) => bytes,
        Err(e) => return usage_error(format!("cannot read {}: {e}", args.file.display())),
    };
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(|| dirs::cache_dir().map(|dir| dir.join("wasync").join("components")))
            .filter(|dir| match std::fs::create_dir_all(dir) {
                Ok(()) => true,
                Err(e) => {
                    // The cache only saves time: run without it.
                    eprintln!("wasync run: not caching in {}: {e}", dir.display());
                    false
                }
            })
    };
    let config = args.sandbox.apply_to(RuntimeConfig {
        max_concurrent_instances: 4,
        cache_dir,
        put_cap: args.put_cap.unwrap_or(crate::runtime::PUT_CAP_DEFAULT),
        ..RuntimeConfig::default()
    });
    let runtime = match Runtime::new(config) {
        Ok(runtime) => runtime,
        Err(e) => return usage_error(e.to_string()),
    };
    let digest = ModuleDigest::of(&bytes);
    let prepared = match runtime.prepare(&digest, &bytes).await {
        Ok(prepared) => prepared,
        Err(e) => return usage_error(format!("{}: {e}", args.file.display())),
    };
    if let Compilation::Compiled(took) = prepared.compilation {
        let cached = config_cache_note(&runtime);
        eprintln!(
            "wasync run: compiled {} in {}{cached}",
            args.file.display(),
            humantime::format_duration(round_ms(took))
        );
    }
    let id = JobId::new();
    let span = tracing::info_span!("job", %id, function = %args.function, attempt = 1);
    let context = Arc::new(LocalContext::new(JobInfo {
        id,
        queue: String::new(),
        module: digest,
        module_name: None,
        function: args.function.clone(),
        args: call_args.clone(),
        attempt: 1,
        annotations: Vec::new(),
    }));
    let call = JobCall {
        function: args.function,
        args: call_args,
    };
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory,
        timeout: args.timeout,
    };
    let report = runtime
        .run(&prepared, call, limits, context)
        .instrument(span)
        .await;

    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(report.output.stdout.as_bytes());
    let _ = stderr.write_all(report.output.stderr.as_bytes());
    let (printed, code) = match report.outcome {
        RunOutcome::Value(value) => (value, ExitCode::SUCCESS),
        RunOutcome::Await(id) => (json!({ "await": id }), ExitCode::SUCCESS),
        RunOutcome::Failure(failure) => (json!(failure), ExitCode::from(1)),
    };
    println!("{printed}");
    code
}

fn config_cache_note(runtime: &Runtime) -> String {
    match &runtime.config().cache_dir {
        Some(dir) => format!(" (kept in {} for the next run)", dir.display()),
        None => String::new(),
    }
}

fn round_ms(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}

fn usage_error(message: String) -> ExitCode {
    eprintln!("wasync run: {message}");
    ExitCode::from(2)
}

/// The job's outside world for a local run: annotations in memory, puts
/// recorded and printed.
struct LocalContext {
    info: JobInfo,
    state: Mutex<LocalState>,
}

#[derive(Default)]
struct LocalState {
    /// Jobs this run knows: itself and the ones it put.
    jobs: HashSet<JobId>,
    annotations: HashMap<(JobId, String), Value>,
}

impl LocalContext {
    fn new(info: JobInfo) -> Self {
        let mut state = LocalState::default();
        state.jobs.insert(info.id);
        LocalContext {
            info,
            state: Mutex::new(state),
        }
    }

    fn known(&self, state: &LocalState, job: Option<JobId>) -> Result<JobId, String> {
        let id = job.unwrap_or(self.info.id);
        if state.jobs.contains(&id) {
            Ok(id)
        } else {
            Err(format!(
                "no job {id} (wasync run knows only the running job and the jobs it put)"
            ))
        }
    }
}

#[async_trait::async_trait]
impl JobContext for LocalContext {
    fn job_info(&self) -> JobInfo {
        self.info.clone()
    }

    async fn set_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
        value: Value,
    ) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.known(&state, job)?;
        state.annotations.insert((id, name.to_owned()), value);
        Ok(())
    }

    async fn get_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
    ) -> Result<Option<Value>, String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.known(&state, job)?;
        Ok(state.annotations.get(&(id, name.to_owned())).cloned())
    }

    async fn put(&self, spec: JobSpec) -> Result<JobId, String> {
        let id = JobId::new();
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .insert(id);
        let printed = json!({
            "put": {
                "module": spec.module,
                "function": spec.function,
                "args": spec.args,
                "queue": spec.queue,
                "begin_after": spec.begin_after,
                "begin_by_ms": spec.begin_by_ms,
            },
            "id": id,
        });
        eprintln!("{printed}");
        Ok(id)
    }

    /// Each job as `put` prints it: in memory there is no transaction to
    /// share, and no uniqueness key is ever held.
    async fn put_many(&self, specs: Vec<JobSpec>) -> Result<Vec<PutAnswer>, String> {
        let mut answers = Vec::with_capacity(specs.len());
        for spec in specs {
            answers.push(PutAnswer {
                id: self.put(spec).await?,
                duplicate: false,
            });
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_context_keeps_annotations_and_knows_put_jobs() {
        let info = JobInfo {
            id: JobId::new(),
            queue: String::new(),
            module: ModuleDigest::of(b"x"),
            module_name: None,
            function: "f".into(),
            args: json!([]),
            attempt: 1,
            annotations: Vec::new(),
        };
        let context = LocalContext::new(info);
        assert_eq!(context.get_annotation(None, "a").await, Ok(None));
        context.set_annotation(None, "a", json!(1)).await.unwrap();
        assert_eq!(context.get_annotation(None, "a").await, Ok(Some(json!(1))));
        let stranger = JobId::new();
        assert!(context.get_annotation(Some(stranger), "a").await.is_err());
        let spec = JobSpec {
            function: "g".into(),
            args: json!([1]),
            ..JobSpec::default()
        };
        let child = context.put(spec).await.unwrap();
        context
            .set_annotation(Some(child), "b", json!("x"))
            .await
            .unwrap();
        assert_eq!(
            context.get_annotation(Some(child), "b").await,
            Ok(Some(json!("x")))
        );
    }
}
