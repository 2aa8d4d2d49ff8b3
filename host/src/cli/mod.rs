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
mod bench;
mod callbacks;
mod cancel;
pub mod client;
mod dispatchers;
mod failures;
mod health;
mod identity;
mod jobs;
mod modules;
mod monitor;
mod names;
mod output;
mod pauses;
mod pull;
mod put;
mod put_from;
mod queues;
mod quotas;
mod removal;
pub mod run;
mod scheduler;
mod schedules;
mod serve;
mod server;
mod show;
mod tokens;
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

/// Options of every client command, given before the command (`wasync
/// --server URL put …`) or after it ([`ClientFlags`]).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The wasync server's URL (client commands).
    #[arg(long, env = "WASYNC_SERVER", default_value = SERVER_DEFAULT)]
    pub server: String,
    /// The bearer token, if the server requires one (client commands).
    #[arg(long, env = "WASYNC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a human-readable summary (client
    /// commands).
    #[arg(long)]
    pub json: bool,
}

impl ClientArgs {
    /// A client of the server these options name.
    pub fn client(&self) -> Client {
        Client::new(&self.server, self.token.clone())
    }

    /// These options, overridden by those given after the command.
    pub fn with(&self, flags: ClientFlags) -> ClientArgs {
        ClientArgs {
            server: flags.server.unwrap_or_else(|| self.server.clone()),
            token: flags.token.or_else(|| self.token.clone()),
            json: self.json || flags.json,
        }
    }
}

/// The client options as given after a client command: only client
/// commands take them (a server command's own options are its settings).
#[derive(Debug, Clone, Args)]
pub struct ClientFlags {
    /// The wasync server's URL (default: `WASYNC_SERVER`, else
    /// http://127.0.0.1:7411).
    #[arg(long)]
    pub server: Option<String>,
    /// The bearer token, if the server requires one (default:
    /// `WASYNC_TOKEN`).
    #[arg(long)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a human-readable summary.
    #[arg(long)]
    pub json: bool,
}

/// A client command's arguments, with the client options.
#[derive(Debug, Args)]
pub struct With<A: Args> {
    /// Where the server is.
    #[command(flatten)]
    pub client: ClientFlags,
    /// The command's own arguments.
    #[command(flatten)]
    pub args: A,
}

/// A client command with subcommands, with the client options.
#[derive(Debug, Args)]
pub struct WithCommand<S: Subcommand> {
    /// Where the server is.
    #[command(flatten)]
    pub client: ClientFlags,
    /// The subcommand.
    #[command(subcommand)]
    pub command: S,
}

/// A client command that takes no arguments of its own.
#[derive(Debug, Args)]
pub struct NoArgs {}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job locally in the sandbox, with no server and no database.
    Run(run::RunArgs),
    /// Run the HTTP API and a dispatcher on the embedded SQLite default.
    Serve(Box<serve::ServeArgs>),
    /// Run a dispatcher only (no HTTP API): a worker sharing the database.
    Worker(worker::WorkerArgs),
    /// Run a scheduler only (no HTTP API, no dispatcher): put the jobs of
    /// due schedules, sharing the database with other processes.
    Scheduler(scheduler::SchedulerArgs),
    /// Check that the server answers.
    Health(With<health::HealthArgs>),
    /// Upload a job component.
    Upload(With<modules::UploadArgs>),
    /// List, show or delete uploaded modules.
    Modules(WithCommand<modules::ModulesCommand>),
    /// Put a job into a queue (or many, `--from FILE`); prints its id.
    Put(With<put::PutArgs>),
    /// Show a job: status, result or failure, annotations.
    Show(With<show::ShowArgs>),
    /// Change a job's arguments, due time, begin-by or quotas before it is
    /// claimed.
    Update(With<update::UpdateArgs>),
    /// Wait for a job to complete; exits 1 if it failed.
    Wait(With<wait::WaitArgs>),
    /// List jobs, filtered by status and queue.
    Jobs(With<jobs::JobsArgs>),
    /// Take the first (or the INDEX-th) pending job out of a queue.
    Pull(With<pull::PullArgs>),
    /// Take a given pending job out of its queue.
    Remove(With<pull::RemoveArgs>),
    /// Put a pulled or removed job back at the end of a queue.
    PutBack(With<pull::PutBackArgs>),
    /// Read a job's annotations, or set one.
    Annotate(With<annotate::AnnotateArgs>),
    /// List a job's failed attempts (failed runs and interruptions).
    Attempts(With<failures::AttemptsArgs>),
    /// Show or set a queue's default retry policy.
    RetryPolicy(With<failures::RetryPolicyArgs>),
    /// List, create, show or delete queues.
    Queues(With<queues::QueuesArgs>),
    /// List, create, show, update, pause, resume or delete schedules.
    Schedules(With<Box<schedules::SchedulesArgs>>),
    /// List, create, show, resize or delete a queue's quotas.
    Quotas(With<quotas::QuotasArgs>),
    /// List, create or revoke scoped API tokens (admin).
    Tokens(With<tokens::TokensArgs>),
    /// List dispatchers and their agents.
    Dispatchers(With<NoArgs>),
    /// List, set or delete agents.
    Agents(With<agents::AgentsArgs>),
    /// List or add a job's callbacks.
    Callbacks(With<callbacks::CallbacksArgs>),
    /// Put a serial or parallel composite; list or add its parts.
    Composite(With<callbacks::CompositeArgs>),
    /// Cancel a job: one not yet claimed never runs, a running one is
    /// interrupted.
    Cancel(With<cancel::CancelArgs>),
    /// Delete finished jobs by status; prints the count per status.
    RemoveJobs(With<removal::RemoveJobsArgs>),
    /// Stop processing a queue or a dispatcher (nothing is claimed).
    Pause(With<pauses::PauseArgs>),
    /// Start processing a paused queue or dispatcher again.
    Resume(With<pauses::PauseArgs>),
    /// List the paused queues and dispatchers.
    Processing(With<NoArgs>),
    /// Named jobs: register a name for a module's function, put by name.
    Names(With<names::NamesArgs>),
    /// Count and list jobs, job info and failures, dispatcher statistics,
    /// status and polls.
    Monitor(With<monitor::MonitorArgs>),
    /// Measure puts/s, processed jobs/s, idle latency and memory over HTTP:
    /// starts `wasync serve` (or loads `--server`) with trivial jobs.
    Bench(Box<bench::BenchArgs>),
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
            Command::Serve(args) => serve::run(*args).await,
            Command::Worker(args) => worker::run(args).await,
            Command::Scheduler(args) => scheduler::run(args).await,
            Command::Health(With { client, args }) => {
                health::run(&cli.client.with(client), args).await
            }
            Command::Upload(With { client, args }) => {
                modules::upload(&cli.client.with(client), args).await
            }
            Command::Modules(WithCommand { client, command }) => {
                modules::run(&cli.client.with(client), command).await
            }
            Command::Put(With { client, args }) => put::run(&cli.client.with(client), args).await,
            Command::Show(With { client, args }) => show::run(&cli.client.with(client), args).await,
            Command::Update(With { client, args }) => {
                update::run(&cli.client.with(client), args).await
            }
            Command::Wait(With { client, args }) => wait::run(&cli.client.with(client), args).await,
            Command::Jobs(With { client, args }) => jobs::run(&cli.client.with(client), args).await,
            Command::Pull(With { client, args }) => {
                pull::pull(&cli.client.with(client), args).await
            }
            Command::Remove(With { client, args }) => {
                pull::remove(&cli.client.with(client), args).await
            }
            Command::PutBack(With { client, args }) => {
                pull::put_back(&cli.client.with(client), args).await
            }
            Command::Annotate(With { client, args }) => {
                annotate::run(&cli.client.with(client), args).await
            }
            Command::Attempts(With { client, args }) => {
                failures::attempts(&cli.client.with(client), args).await
            }
            Command::RetryPolicy(With { client, args }) => {
                failures::retry_policy(&cli.client.with(client), args).await
            }
            Command::Queues(With { client, args }) => {
                queues::run(&cli.client.with(client), args).await
            }
            Command::Schedules(With { client, args }) => {
                schedules::run(&cli.client.with(client), *args).await
            }
            Command::Quotas(With { client, args }) => {
                quotas::run(&cli.client.with(client), args).await
            }
            Command::Tokens(With { client, args }) => {
                tokens::run(&cli.client.with(client), args).await
            }
            Command::Dispatchers(With { client, .. }) => {
                dispatchers::run(&cli.client.with(client)).await
            }
            Command::Agents(With { client, args }) => {
                agents::run(&cli.client.with(client), args).await
            }
            Command::Callbacks(With { client, args }) => {
                callbacks::run(&cli.client.with(client), args).await
            }
            Command::Composite(With { client, args }) => {
                callbacks::composite(&cli.client.with(client), args).await
            }
            Command::Cancel(With { client, args }) => {
                cancel::cancel(&cli.client.with(client), args).await
            }
            Command::RemoveJobs(With { client, args }) => {
                removal::remove_jobs(&cli.client.with(client), args).await
            }
            Command::Pause(With { client, args }) => {
                pauses::pause(&cli.client.with(client), args, false).await
            }
            Command::Resume(With { client, args }) => {
                pauses::pause(&cli.client.with(client), args, true).await
            }
            Command::Processing(With { client, .. }) => {
                pauses::processing(&cli.client.with(client)).await
            }
            Command::Names(With { client, args }) => {
                names::run(&cli.client.with(client), args).await
            }
            Command::Monitor(With { client, args }) => {
                monitor::run(&cli.client.with(client), args).await
            }
            Command::Bench(args) => bench::run(*args).await,
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

pub(crate) use crate::config::parse_size;

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

    /// The long options `wasync NAME --help` offers.
    fn options_of(name: &str) -> Vec<String> {
        let mut cli = super::Cli::command();
        cli.build();
        let command = cli.find_subcommand(name).expect("a command");
        command
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    }

    #[test]
    fn each_command_offers_only_the_options_that_mean_something_for_it() {
        let client = ["server", "token", "json"];
        let api = [
            "listen",
            "token",
            "upload-limit",
            "no-dispatcher",
            "no-scheduler",
        ];
        let retention = ["retain-for", "retain-count", "retention-interval"];
        let worker = options_of("worker");
        for option in client.iter().chain(&api).chain(&retention) {
            assert!(
                !worker.iter().any(|o| o == option),
                "worker offers --{option}"
            );
        }
        for option in [
            "database",
            "data-dir",
            "instance",
            "poll-interval",
            "dispatcher-id",
        ] {
            assert!(
                worker.iter().any(|o| o == option),
                "worker lacks --{option}"
            );
        }
        let scheduler = options_of("scheduler");
        for option in client.iter().chain(&api).chain(&retention).chain(&[
            "poll-interval",
            "main-agent-size",
            "dispatcher-id",
        ]) {
            assert!(
                !scheduler.iter().any(|o| o == option),
                "scheduler offers --{option}"
            );
        }
        assert!(scheduler.iter().any(|o| o == "scheduler-interval"));
        for command in ["run", "serve"] {
            let options = options_of(command);
            for option in ["server", "json"] {
                assert!(
                    !options.iter().any(|o| o == option),
                    "{command} offers --{option}"
                );
            }
        }
        for command in ["put", "show", "dispatchers", "modules", "schedules"] {
            let options = options_of(command);
            for option in client {
                assert!(
                    options.iter().any(|o| o == option),
                    "{command} lacks --{option}"
                );
            }
        }
    }

    #[test]
    fn client_options_go_before_or_after_the_command() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            let cli = super::Cli::try_parse_from(args).expect("valid arguments");
            match cli.command {
                super::Command::Show(with) => cli.client.with(with.client),
                other => panic!("not show: {other:?}"),
            }
        };
        let before = parse(&["wasync", "--server", "http://a", "--json", "show", "x"]);
        assert_eq!((before.server.as_str(), before.json), ("http://a", true));
        let after = parse(&[
            "wasync", "show", "x", "--server", "http://b", "--token", "t",
        ]);
        assert_eq!(after.server, "http://b");
        assert_eq!(after.token.as_deref(), Some("t"));
        assert!(super::Cli::try_parse_from(["wasync", "worker", "--listen", "x"]).is_err());
        assert!(super::Cli::try_parse_from(["wasync", "worker", "--server", "x"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(super::parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(super::parse_size("1 GiB").unwrap(), 1 << 30);
        assert!(super::parse_size("lots").is_err());
    }
}
