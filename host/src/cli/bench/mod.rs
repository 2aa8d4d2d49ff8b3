//! `wasync bench`: a load benchmark a user can run against any server.
//!
//! It starts `wasync serve` with the settings a new user gets (or targets
//! `--server`), uploads the `hello` component, and measures, over HTTP
//! from this separate process:
//!
//! 1. idle latency: jobs put one at a time, each once the one before has
//!    completed, from sending the put to seeing the job completed (and
//!    the server's own `completed_at - created_at`);
//! 2. single puts: `--jobs` jobs, one a request, from `--connections`
//!    keep-alive connections;
//! 3. batch puts: `--jobs` jobs, `--batch-size` a request
//!    (`POST /v1/jobs/batch`).
//!
//! For 2 and 3 it prints puts/s (first put sent to last answered) and
//! processed jobs/s (first put sent to the last job seen completed, by
//! counting completed jobs every 10 ms: run it against a server with no
//! other work), and the server's write transactions per 1,000 jobs by
//! kind (puts, claims, starts, finishes, from its `/metrics`): on SQLite
//! each that writes is a durable commit of the one writer, which is what
//! bounds the phase. Last, the server's resident memory, now and at most,
//! when it started the server.

mod load;
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use load::{Sample, Target, Throughput, Writes, percentile};
use server::{Rss, StartedServer};

use crate::wire::JobSpec;

/// Where the `hello` component is looked for when `--module` is not
/// given, under the working directory: where the tests' build and
/// `cargo xtask demo` put it.
const HELLO_PATHS: [&str; 2] = [
    "target/examples-wasm/wasm32-wasip2/release/hello.wasm",
    "target/wasm32-wasip2/release/hello.wasm",
];

/// The name the component is uploaded under.
const MODULE_NAME: &str = "hello";

/// Which puts to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One job a request, then batches.
    Both,
    /// One job a request only.
    Single,
    /// Batches only.
    Batch,
}

/// Arguments of `wasync bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Load this running server (it must have no other work) instead of
    /// starting `wasync serve` with its defaults.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The bearer token of `--server`, if it needs one.
    #[arg(long, requires = "server")]
    token: Option<String>,
    /// The `hello` component to upload (default: the example built under
    /// `target/`; with `--server`, a module `hello` already uploaded).
    #[arg(long, value_name = "FILE")]
    module: Option<PathBuf>,
    /// Jobs put in each of the single and batch phases.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Concurrent HTTP connections putting.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Jobs a request in the batch phase.
    #[arg(long, default_value_t = 1_000)]
    batch_size: usize,
    /// Jobs put one at a time, at idle, for the latency percentiles.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Which phases of puts to run.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// The database of the started server (default: SQLite in its own
    /// temporary data directory).
    #[arg(long, conflicts_with = "server")]
    database: Option<String>,
    /// An argument for the started `wasync serve` (repeat for several),
    /// e.g. `--serve-arg=--main-agent-size=64`.
    #[arg(
        long = "serve-arg",
        value_name = "ARG",
        allow_hyphen_values = true,
        conflicts_with = "server"
    )]
    serve_args: Vec<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// What the benchmark measured.
#[derive(Debug, Default)]
struct Figures {
    latency: Vec<Sample>,
    single: Option<Throughput>,
    batch: Option<Throughput>,
    rss: Option<Rss>,
    failed: u64,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.jobs == 0 || args.connections == 0 || args.batch_size == 0 {
        bail!("--jobs, --connections and --batch-size must be at least 1");
    }
    let module = match &args.module {
        Some(path) => Some(path.clone()),
        None => HELLO_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()),
    };
    if module.is_none() && args.server.is_none() {
        bail!(
            "no `hello` component: give --module FILE (build it with `cargo build --release \
             --target wasm32-wasip2 -p wasync-example-hello`), or run `cargo xtask bench`"
        );
    }
    let started = match &args.server {
        Some(_) => None,
        None => Some(StartedServer::start(
            args.database.as_deref(),
            &args.serve_args,
        )?),
    };
    let url = match (&args.server, &started) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url.clone(),
        (None, None) => unreachable!("a server is given or started"),
    };
    let target = Target::new(&url, args.token.clone());
    if !args.json {
        println!("{}", heading(&args, &url, started.is_some()));
    }
    let figures = measure(&args, &target, module.as_deref(), started.as_ref()).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&args, &figures))?
        );
    } else {
        print_figures(&args, &figures);
    }
    Ok(ExitCode::SUCCESS)
}

async fn measure(
    args: &BenchArgs,
    target: &Target,
    module: Option<&Path>,
    started: Option<&StartedServer>,
) -> anyhow::Result<Figures> {
    match module {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the module {}", path.display()))?;
            target.upload(MODULE_NAME, bytes).await?;
        }
        None => {
            target
                .get(&format!("/v1/modules/{MODULE_NAME}"))
                .await
                .context("the server has no module `hello`; give --module FILE")?;
        }
    }
    let job = JobSpec {
        module: MODULE_NAME.to_owned(),
        function: "hello".to_owned(),
        ..JobSpec::default()
    };
    let failed_before = target.count("failed").await?;
    let mut figures = Figures {
        latency: target.idle_latency(&job, args.latency_samples).await?,
        ..Figures::default()
    };
    let phases: &[(usize, bool)] = match args.mode {
        Mode::Both => &[(1, true), (args.batch_size, false)],
        Mode::Single => &[(1, true)],
        Mode::Batch => &[(args.batch_size, false)],
    };
    for &(batch, single) in phases {
        let completed = target.count("completed").await?;
        let measured = target
            .drive(&job, args.jobs, batch, args.connections, completed)
            .await?;
        if single {
            figures.single = Some(measured);
        } else {
            figures.batch = Some(measured);
        }
    }
    figures.failed = target.count("failed").await?.saturating_sub(failed_before);
    figures.rss = started.and_then(StartedServer::rss);
    Ok(figures)
}

fn heading(args: &BenchArgs, url: &str, started: bool) -> String {
    let server = if started {
        let database = match &args.database {
            Some(_) => "the given database",
            None => "SQLite",
        };
        let settings = if args.serve_args.is_empty() {
            "defaults".to_owned()
        } else {
            args.serve_args.join(" ")
        };
        format!("a started `wasync serve` ({database}, {settings}) at {url}")
    } else {
        url.to_owned()
    };
    format!(
        "wasync bench: trivial `hello` jobs over HTTP against {server}, {} connections",
        args.connections
    )
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn sorted(samples: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut durations: Vec<Duration> = samples.collect();
    durations.sort();
    durations
}

fn print_figures(args: &BenchArgs, figures: &Figures) {
    let seen = sorted(figures.latency.iter().map(|s| s.seen));
    let server = sorted(figures.latency.iter().filter_map(|s| s.server));
    let spread = |d: &[Duration]| {
        format!(
            "p50 {}, p90 {}, p99 {}, max {}",
            ms(percentile(d, 50.0)),
            ms(percentile(d, 90.0)),
            ms(percentile(d, 99.0)),
            ms(percentile(d, 100.0))
        )
    };
    println!(
        "idle put→completed ({} jobs one at a time): over HTTP {}; in the server {}",
        seen.len(),
        spread(&seen),
        spread(&server)
    );
    let phase = |what: String, t: &Throughput| {
        println!(
            "{what}: {} jobs, puts {:.0}/s, processed {:.0}/s (first put to last completion {:.2} s)",
            t.jobs,
            t.puts_per_sec(),
            t.processed_per_sec(),
            t.processed.as_secs_f64()
        );
        if let Some(writes) = t.writes {
            let per_thousand = |n: u64| n as f64 * 1000.0 / t.jobs.max(1) as f64;
            println!(
                "  server write transactions per 1,000 jobs: puts {:.0}, claims {:.0}, starts {:.0}, finishes {:.0}",
                per_thousand(writes.put),
                per_thousand(writes.claim),
                per_thousand(writes.start),
                per_thousand(writes.finish)
            );
        }
    };
    if let Some(single) = &figures.single {
        phase("single puts (one job a request)".into(), single);
    }
    if let Some(batch) = &figures.batch {
        phase(
            format!("batch puts ({} jobs a request)", args.batch_size),
            batch,
        );
    }
    if let Some(rss) = figures.rss {
        println!(
            "server RSS: {:.1} MiB now, {:.1} MiB at most",
            rss.now as f64 / (1 << 20) as f64,
            rss.peak as f64 / (1 << 20) as f64
        );
    }
    if figures.failed > 0 {
        println!(
            "warning: {} jobs failed (see the server's log)",
            figures.failed
        );
    }
}

fn writes_json(writes: Writes) -> Value {
    json!({
        "puts": writes.put,
        "claims": writes.claim,
        "starts": writes.start,
        "finishes": writes.finish,
    })
}

fn as_json(args: &BenchArgs, figures: &Figures) -> Value {
    let millis = |d: &[Duration], p: f64| percentile(d, p).as_secs_f64() * 1e3;
    let spread = |d: &[Duration]| json!({"p50": millis(d, 50.0), "p90": millis(d, 90.0), "p99": millis(d, 99.0), "max": millis(d, 100.0)});
    let phase = |t: &Option<Throughput>| {
        t.map(|t| {
            json!({
                "jobs": t.jobs,
                "puts_per_sec": t.puts_per_sec(),
                "processed_per_sec": t.processed_per_sec(),
                "seconds": t.processed.as_secs_f64(),
                "writes": t.writes.map(writes_json),
            })
        })
    };
    let seen = sorted(figures.latency.iter().map(|s| s.seen));
    let server = sorted(figures.latency.iter().filter_map(|s| s.server));
    json!({
        "connections": args.connections,
        "batch_size": args.batch_size,
        "latency_ms": {"samples": seen.len(), "http": spread(&seen), "server": spread(&server)},
        "single": phase(&figures.single),
        "batch": phase(&figures.batch),
        "rss_bytes": figures.rss.map(|r| r.now),
        "rss_peak_bytes": figures.rss.map(|r| r.peak),
        "failed": figures.failed,
    })
}
