//! The `wasync` command line: one file per command.
//!
//! Server commands: `serve` (API + dispatcher + scheduler), `worker`
//! (dispatcher), `scheduler` (scheduler). Local: `run` (one job in
//! the sandbox, no server). Client commands talk to a server over HTTP
//! (`--server`, `--token`) and print for people, or the server's JSON with
//! `--json`.
//!
//! Exit codes: 0 success; 1 the job failed (`run`, `wait`); 2 the command
//! itself failed (bad usage, unreadable file, server error); 3 `wait` gave
//! up before the job completed.

mod agents;
mod annotate;
mod callbacks;
pub mod client;
mod dispatchers;
mod failures;
mod health;
mod identity;
mod jobs;
mod manage;
mod modules;
mod monitor;
mod names;
mod output;
mod pull;
mod put;
mod queues;
mod quotas;
pub mod run;
mod scheduler;
mod schedules;
mod serve;
mod show;
mod update;
mod wait;
mod worker;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use client::{Client, SERVER_DEFAULT};

/// wasync: a durable job queue whose jobs are WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasync", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where client commands find the server.
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every client command.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The wasync server's URL.
    #[arg(long, global = true, env = "WASYNC_SERVER", default_value = SERVER_DEFAULT)]
    pub server: String,
    /// The bearer token, if the server requires one.
    #[arg(long, global = true, env = "WASYNC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a human-readable summary.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    /// A client of the server these options name.
    pub fn client(&self) -> Client {
        Client::new(&self.server, self.token.clone())
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job locally in the sandbox, with no server and no database.
    Run(run::RunArgs),
    /// Run the HTTP API and a dispatcher on the embedded SQLite default.
    Serve(serve::ServeArgs),
    /// Run a dispatcher only (no HTTP API): a worker sharing the database.
    Worker(serve::ServeArgs),
    /// Run a scheduler only (no HTTP API, no dispatcher): put the jobs of
    /// due schedules, sharing the database with other processes.
    Scheduler(serve::ServeArgs),
    /// Check that the server answers.
    Health(health::HealthArgs),
    /// Upload a job component.
    Upload(modules::UploadArgs),
    /// List, show or delete uploaded modules.
    #[command(subcommand)]
    Modules(modules::ModulesCommand),
    /// Put a job into a queue; prints its id.
    Put(put::PutArgs),
    /// Show a job: status, result or failure, annotations.
    Show(show::ShowArgs),
    /// Change a job's arguments, due time, begin-by or quotas before it is
    /// claimed.
    Update(update::UpdateArgs),
    /// Wait for a job to complete; exits 1 if it failed.
    Wait(wait::WaitArgs),
    /// List jobs, filtered by status and queue.
    Jobs(jobs::JobsArgs),
    /// Take the first (or the INDEX-th) pending job out of a queue.
    Pull(pull::PullArgs),
    /// Take a given pending job out of its queue.
    Remove(pull::RemoveArgs),
    /// Put a pulled or removed job back at the end of a queue.
    PutBack(pull::PutBackArgs),
    /// Read a job's annotations, or set one.
    Annotate(annotate::AnnotateArgs),
    /// List a job's failed attempts (failed runs and interruptions).
    Attempts(failures::AttemptsArgs),
    /// Show or set a queue's default retry policy.
    RetryPolicy(failures::RetryPolicyArgs),
    /// List, create, show or delete queues.
    Queues(queues::QueuesArgs),
    /// List, create, show, update, pause, resume or delete schedules.
    Schedules(Box<schedules::SchedulesArgs>),
    /// List, create, show, resize or delete a queue's quotas.
    Quotas(quotas::QuotasArgs),
    /// List dispatchers and their agents.
    Dispatchers,
    /// List, set or delete agents.
    Agents(agents::AgentsArgs),
    /// List or add a job's callbacks (zc.async `addCallback`).
    Callbacks(callbacks::CallbacksArgs),
    /// Put a serial or parallel composite; list or add its parts.
    Composite(callbacks::CompositeArgs),
    /// Cancel a job no dispatcher holds yet: it never runs.
    Cancel(manage::CancelArgs),
    /// Delete finished jobs by status; prints the count per status.
    RemoveJobs(manage::RemoveJobsArgs),
    /// Stop processing a queue or a dispatcher (nothing is claimed).
    Pause(manage::PauseArgs),
    /// Start processing a paused queue or dispatcher again.
    Resume(manage::PauseArgs),
    /// List the paused queues and dispatchers.
    Processing,
    /// Named jobs: register a name for a module's function, put by name.
    Names(names::NamesArgs),
    /// Count and list jobs, job info and failures, dispatcher statistics,
    /// status and polls.
    Monitor(monitor::MonitorArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wasync: could not start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => Ok(run::run(args).await),
            Command::Serve(args) => serve::run(args).await,
            Command::Worker(args) => worker::run(args).await,
            Command::Scheduler(args) => scheduler::run(args).await,
            Command::Health(args) => health::run(&cli.client, args).await,
            Command::Upload(args) => modules::upload(&cli.client, args).await,
            Command::Modules(command) => modules::run(&cli.client, command).await,
            Command::Put(args) => put::run(&cli.client, args).await,
            Command::Show(args) => show::run(&cli.client, args).await,
            Command::Update(args) => update::run(&cli.client, args).await,
            Command::Wait(args) => wait::run(&cli.client, args).await,
            Command::Jobs(args) => jobs::run(&cli.client, args).await,
            Command::Pull(args) => pull::pull(&cli.client, args).await,
            Command::Remove(args) => pull::remove(&cli.client, args).await,
            Command::PutBack(args) => pull::put_back(&cli.client, args).await,
            Command::Annotate(args) => annotate::run(&cli.client, args).await,
            Command::Attempts(args) => failures::attempts(&cli.client, args).await,
            Command::RetryPolicy(args) => failures::retry_policy(&cli.client, args).await,
            Command::Queues(args) => queues::run(&cli.client, args).await,
            Command::Schedules(args) => schedules::run(&cli.client, *args).await,
            Command::Quotas(args) => quotas::run(&cli.client, args).await,
            Command::Dispatchers => dispatchers::run(&cli.client).await,
            Command::Agents(args) => agents::run(&cli.client, args).await,
            Command::Callbacks(args) => callbacks::run(&cli.client, args).await,
            Command::Composite(args) => callbacks::composite(&cli.client, args).await,
            Command::Cancel(args) => manage::cancel(&cli.client, args).await,
            Command::RemoveJobs(args) => manage::remove_jobs(&cli.client, args).await,
            Command::Pause(args) => manage::pause(&cli.client, args, false).await,
            Command::Resume(args) => manage::pause(&cli.client, args, true).await,
            Command::Processing => manage::processing(&cli.client).await,
            Command::Names(args) => names::run(&cli.client, args).await,
            Command::Monitor(args) => monitor::run(&cli.client, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wasync: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Parses a JSON argument given on the command line.
pub(crate) fn parse_json_arg(what: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{what} is not valid JSON ({e}): `{text}` (quote strings: '\"text\"', arrays: '[1, 2]', objects: '{{\"a\": 1}}')"
        )
    })
}

/// Parses a byte size: `1048576`, `64MiB`, `1 GiB`.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("`{text}` is not a size ({e}); use e.g. `1048576`, `64MiB`"))
}

/// Parses a duration: `30s`, `1h 30m`, `250ms`, or bare seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::api::input::parse_duration_text(text)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(super::parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(super::parse_size("1 GiB").unwrap(), 1 << 30);
        assert!(super::parse_size("lots").is_err());
    }
}
