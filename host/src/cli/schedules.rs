//! `wasync schedules`: list, create, show, update, pause, resume and delete
//! schedules — jobs put again and again, every so often (`--every 10s`) or
//! at cron times (`--cron "10 4 * * *"`, or lists of fields
//! `--minute 10 --hour 4`, day of week 0 = Monday). Times are UTC.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::ClientArgs;
use super::client::segment;
use super::output::{outcome_line, print_json, print_table, queue_name, short_json};
use crate::model::{Job, JobStatus};

/// Arguments of `wasync schedules`.
#[derive(Debug, Args)]
pub struct SchedulesArgs {
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<SchedulesCommand>,
}

/// `wasync schedules ...`.
#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    /// List schedules with their next call times.
    List,
    /// Create a schedule that puts MODULE's FUNCTION with ARGS.
    Create {
        /// Its name.
        name: String,
        /// The module: a name or a digest (`sha256:...`).
        module: String,
        /// The job function.
        function: String,
        /// Its arguments as JSON: an array (positional) or an object.
        args: Option<String>,
        /// When.
        #[command(flatten)]
        timing: TimingArgs,
        /// Options.
        #[command(flatten)]
        options: ScheduleOptions,
        /// Create it paused (it puts nothing until resumed).
        #[arg(long)]
        paused: bool,
    },
    /// Show a schedule, its next call time and its latest runs.
    Show {
        /// Its name.
        name: String,
        /// How many of its latest runs to list.
        #[arg(long, default_value_t = 10)]
        runs: u32,
    },
    /// Change a schedule: only what is given changes. A new timing
    /// reschedules from now.
    Update {
        /// Its name.
        name: String,
        /// The module: a name or a digest.
        #[arg(long)]
        module: Option<String>,
        /// The job function.
        #[arg(long)]
        function: Option<String>,
        /// The arguments as JSON.
        #[arg(long)]
        args: Option<String>,
        /// When.
        #[command(flatten)]
        timing: TimingArgs,
        /// Options.
        #[command(flatten)]
        options: ScheduleOptions,
    },
    /// Pause a schedule: it puts nothing until resumed.
    Pause {
        /// Its name.
        name: String,
    },
    /// Resume a schedule from its next occurrence still to come.
    Resume {
        /// Its name.
        name: String,
    },
    /// Delete a schedule (the jobs it put stay).
    Delete {
        /// Its name.
        name: String,
    },
}

/// When a schedule puts its job: `--every`, `--cron`, or lists of fields
/// (each a comma-separated list; all given ones must match).
#[derive(Debug, Args)]
struct TimingArgs {
    /// Every so long, e.g. `10s`, `1h`.
    #[arg(long, value_parser = super::parse_duration, conflicts_with_all = ["cron", "minute", "hour", "day_of_month", "month", "day_of_week"])]
    every: Option<Duration>,
    /// A five-field cron string, e.g. `"10 4 * * *"` (UTC; day of month and
    /// day of week must both match when both are given).
    #[arg(long, conflicts_with_all = ["minute", "hour", "day_of_month", "month", "day_of_week"])]
    cron: Option<String>,
    /// Minutes, 0-59.
    #[arg(long, value_delimiter = ',')]
    minute: Vec<u8>,
    /// Hours, 0-23.
    #[arg(long, value_delimiter = ',')]
    hour: Vec<u8>,
    /// Days of the month, 1-31.
    #[arg(long, value_delimiter = ',')]
    day_of_month: Vec<u8>,
    /// Months, 1-12.
    #[arg(long, value_delimiter = ',')]
    month: Vec<u8>,
    /// Days of the week, 0-6, 0 = Monday.
    #[arg(long, value_delimiter = ',')]
    day_of_week: Vec<u8>,
}

impl TimingArgs {
    /// Adds `delay` or `cron` to `body`, if given.
    fn add_to(&self, body: &mut Map<String, Value>) {
        if let Some(every) = self.every {
            body.insert("delay".into(), json!(every.as_secs_f64()));
        } else if let Some(cron) = &self.cron {
            body.insert("cron".into(), json!(cron));
        } else {
            let fields = [
                ("minute", &self.minute),
                ("hour", &self.hour),
                ("day_of_month", &self.day_of_month),
                ("month", &self.month),
                ("day_of_week", &self.day_of_week),
            ];
            if fields.iter().any(|(_, list)| !list.is_empty()) {
                let lists: Map<String, Value> = fields
                    .into_iter()
                    .map(|(name, list)| (name.to_owned(), json!(list)))
                    .collect();
                body.insert("cron".into(), Value::Object(lists));
            }
        }
    }
}

/// What else a schedule takes.
#[derive(Debug, Args)]
struct ScheduleOptions {
    /// The queue its jobs go to (default: the default queue).
    #[arg(long, short)]
    queue: Option<String>,
    /// How long a scheduler that took it holds it before another may
    /// (default 300s, or half a shorter delay).
    #[arg(long)]
    retry_delay: Option<String>,
    /// After downtime: `once` (one run, the default) or `all` (one per
    /// missed occurrence).
    #[arg(long)]
    catch_up: Option<String>,
    /// Its next (or first) occurrence (RFC 3339; without zone it is UTC).
    #[arg(long)]
    start: Option<String>,
    /// Each job must have started this long after it is put.
    #[arg(long)]
    begin_by: Option<String>,
    /// Fuel budget of each job (capped by the agent).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit of each job, e.g. `64MiB`.
    #[arg(long, value_parser = super::parse_size)]
    memory: Option<u64>,
    /// Wall-clock limit of each run, e.g. `30s`.
    #[arg(long, value_parser = super::parse_duration)]
    timeout: Option<Duration>,
}

impl ScheduleOptions {
    fn add_to(&self, body: &mut Map<String, Value>) {
        let texts = [
            ("queue", &self.queue),
            ("retry_delay", &self.retry_delay),
            ("catch_up", &self.catch_up),
            ("next_call_time", &self.start),
            ("begin_by", &self.begin_by),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                body.insert(key.into(), json!(value));
            }
        }
        let mut limits = Map::new();
        if let Some(fuel) = self.fuel {
            limits.insert("fuel".into(), json!(fuel));
        }
        if let Some(memory) = self.memory {
            limits.insert("memory_bytes".into(), json!(memory));
        }
        if let Some(timeout) = self.timeout {
            limits.insert("timeout_ms".into(), json!(timeout.as_millis() as u64));
        }
        if !limits.is_empty() {
            body.insert("limits".into(), Value::Object(limits));
        }
    }
}

fn path(name: &str) -> String {
    format!("/v1/schedules/{}", segment(name))
}

/// Runs a `wasync schedules` command.
pub async fn run(client_args: &ClientArgs, args: SchedulesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let command = args.command.unwrap_or(SchedulesCommand::List);
    let answer = match &command {
        SchedulesCommand::List => client.get("/v1/schedules").await?,
        SchedulesCommand::Create {
            name,
            module,
            function,
            args,
            timing,
            options,
            paused,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            body.insert("module".into(), json!(module));
            body.insert("function".into(), json!(function));
            if let Some(text) = args {
                body.insert("args".into(), super::parse_json_arg("ARGS", text)?);
            }
            timing.add_to(&mut body);
            options.add_to(&mut body);
            if *paused {
                body.insert("active".into(), json!(false));
            }
            client.post("/v1/schedules", &body).await?
        }
        SchedulesCommand::Show { name, runs } => {
            client.get(&format!("{}?runs={runs}", path(name))).await?
        }
        SchedulesCommand::Update {
            name,
            module,
            function,
            args,
            timing,
            options,
        } => {
            let mut body = Map::new();
            if let Some(module) = module {
                body.insert("module".into(), json!(module));
            }
            if let Some(function) = function {
                body.insert("function".into(), json!(function));
            }
            if let Some(text) = args {
                body.insert("args".into(), super::parse_json_arg("--args", text)?);
            }
            timing.add_to(&mut body);
            options.add_to(&mut body);
            client.patch(&path(name), &body).await?
        }
        SchedulesCommand::Pause { name } => {
            client
                .post(&format!("{}/pause", path(name)), &json!({}))
                .await?
        }
        SchedulesCommand::Resume { name } => {
            client
                .post(&format!("{}/resume", path(name)), &json!({}))
                .await?
        }
        SchedulesCommand::Delete { name } => client.delete(&path(name)).await?,
    };
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        SchedulesCommand::List => {
            let rows: Vec<Vec<String>> = answer["schedules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        text(&s["name"]),
                        when(&s["timing"]),
                        call(s),
                        queue_name(&s["job"]["queue"]),
                        text(&s["next_call_time"]),
                        state(s),
                    ]
                })
                .collect();
            print_table(&["NAME", "WHEN", "CALL", "QUEUE", "NEXT", "STATE"], &rows);
        }
        SchedulesCommand::Create { name, .. } => {
            println!("created schedule {name}; next call {}", next(&answer));
        }
        SchedulesCommand::Update { name, .. } => {
            println!("updated schedule {name}; next call {}", next(&answer));
        }
        SchedulesCommand::Pause { name } => println!("paused schedule {name}"),
        SchedulesCommand::Resume { name } => {
            println!("resumed schedule {name}; next call {}", next(&answer));
        }
        SchedulesCommand::Delete { name } => println!("deleted schedule {name}"),
        SchedulesCommand::Show { .. } => print_schedule(&answer),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or("-").to_owned()
}

fn next(schedule: &Value) -> String {
    text(&schedule["next_call_time"])
}

/// `every 10s`, `cron 10 4 * * *`, `minute=[10] hour=[4]`.
fn when(timing: &Value) -> String {
    if let Some(ms) = timing["delay_ms"].as_u64() {
        return format!(
            "every {}",
            humantime::format_duration(Duration::from_millis(ms))
        );
    }
    if let Some(expression) = timing["expression"].as_str() {
        return format!("cron {expression}");
    }
    ["minute", "hour", "day_of_month", "month", "day_of_week"]
        .iter()
        .filter(|f| timing[**f].as_array().is_some_and(|l| !l.is_empty()))
        .map(|f| format!("{f}={}", timing[*f]))
        .collect::<Vec<_>>()
        .join(" ")
}

fn call(schedule: &Value) -> String {
    let job = &schedule["job"];
    format!(
        "{}:{}({})",
        text(&job["module"]),
        text(&job["function"]),
        short_json(&job["args"], 40)
    )
}

fn state(schedule: &Value) -> String {
    let mut state = if schedule["active"] == true {
        "active".to_owned()
    } else {
        "paused".to_owned()
    };
    if schedule.get("last_error").is_some() {
        state.push_str(", failing");
    }
    state
}

fn print_schedule(s: &Value) {
    println!("schedule   {}", text(&s["name"]));
    println!("id         {}", text(&s["id"]));
    println!("when       {} (UTC)", when(&s["timing"]));
    println!("call       {}", call(s));
    println!("queue      {}", queue_name(&s["job"]["queue"]));
    println!("state      {}", state(s));
    println!("catch up   {}", text(&s["catch_up"]));
    println!("next call  {}", next(s));
    if let Some(last) = s["last_call_time"].as_str() {
        println!("last call  {last}");
    }
    if let (Some(until), Some(holder)) = (s["retry_time"].as_str(), s["holder"].as_str()) {
        println!("held by    {holder} until {until}");
    }
    if let Some(error) = s["last_error"].as_str() {
        println!("last error {error}");
    }
    let rows: Vec<Vec<String>> = s["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|job| {
            let outcome = match serde_json::from_value::<Job>(job.clone()) {
                Ok(job) if job.status == JobStatus::Completed => outcome_line(&job),
                _ => String::new(),
            };
            vec![
                text(&job["occurrence"]),
                text(&job["id"]),
                text(&job["status"]),
                outcome,
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("runs       none yet");
    } else {
        println!("runs (latest first)");
        print_table(&["OCCURRENCE", "JOB", "STATUS", "OUTCOME"], &rows);
    }
}
