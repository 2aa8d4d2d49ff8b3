//! `wasync schedules`: list, create, show, update, pause, resume and delete
//! schedules — jobs put again and again, every so often (`--every 10s`) or
//! at cron times (`--cron "10 4 * * *"`, or lists of fields
//! `--minute 10 --hour 4`, day of week 0 = Monday). Times are UTC.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::ClientArgs;
use super::client::segment;
use super::output::{emit, outcome_line, print_table, queue_label, short_json, time};
use crate::model::{CatchUp, JobLimits, JobStatus, Timing};
use crate::wire::input::{DurationInput, TimeInput, parse_duration_text, parse_time};
use crate::wire::schedules::{
    CronFields, CronInput, Schedule, ScheduleCreate, ScheduleList, SchedulePatchBody, ScheduleView,
};

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
    /// `delay` and `cron`, as given (each `None` when not).
    fn parts(&self) -> (Option<DurationInput>, Option<CronInput>) {
        if let Some(every) = self.every {
            return (Some(DurationInput(every)), None);
        }
        if let Some(cron) = &self.cron {
            return (None, Some(CronInput::Expression(cron.clone())));
        }
        let fields = CronFields {
            minute: self.minute.clone(),
            hour: self.hour.clone(),
            day_of_month: self.day_of_month.clone(),
            month: self.month.clone(),
            day_of_week: self.day_of_week.clone(),
        };
        let any = fields != CronFields::default();
        (None, any.then_some(CronInput::Fields(fields)))
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
    /// The priority of each job (higher runs first; may be negative).
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// A partitioned quota of the queue each job counts against, with its
    /// key: `NAME=KEY` (e.g. `tenants=acme`).
    #[arg(long = "quota-key", value_name = "NAME=KEY", value_parser = super::put::parse_quota_key)]
    quota_keys: Vec<(String, String)>,
}

/// What [`ScheduleOptions`] give, parsed (each `None` when not given).
struct Options {
    queue: Option<String>,
    retry_delay: Option<DurationInput>,
    catch_up: Option<CatchUp>,
    next_call_time: Option<TimeInput>,
    begin_by: Option<DurationInput>,
    limits: Option<JobLimits>,
    priority: Option<i32>,
    quota_keys: Option<BTreeMap<String, String>>,
}

impl ScheduleOptions {
    /// The options, parsed here so that a mistake is named before
    /// anything is sent.
    fn parse(&self) -> anyhow::Result<Options> {
        let duration = |text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_duration_text(t).map(DurationInput))
                .transpose()
                .map_err(|e| anyhow!(e))
        };
        let limits = JobLimits {
            fuel: self.fuel,
            memory_bytes: self.memory,
            timeout_ms: self.timeout.map(|t| t.as_millis() as u64),
        };
        Ok(Options {
            queue: self.queue.clone(),
            retry_delay: duration(&self.retry_delay)?,
            catch_up: self
                .catch_up
                .as_deref()
                .map(str::parse::<CatchUp>)
                .transpose()
                .map_err(|e| anyhow!(e))?,
            next_call_time: self
                .start
                .as_deref()
                .map(|t| parse_time(t).map(TimeInput))
                .transpose()
                .map_err(|e| anyhow!(e))?,
            begin_by: duration(&self.begin_by)?,
            limits: (!limits.is_empty()).then_some(limits),
            priority: self.priority,
            quota_keys: (!self.quota_keys.is_empty())
                .then(|| self.quota_keys.iter().cloned().collect()),
        })
    }
}

fn path(name: &str) -> String {
    format!("/v1/schedules/{}", segment(name))
}

/// Runs a `wasync schedules` command.
pub async fn run(client_args: &ClientArgs, args: SchedulesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let json = client_args.json;
    match args.command.unwrap_or(SchedulesCommand::List) {
        SchedulesCommand::List => {
            let list: ScheduleList = client.get_as("/v1/schedules").await?;
            emit(json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .schedules
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            when(&s.timing),
                            call(s),
                            queue_label(s.job.queue.as_deref().unwrap_or_default()),
                            next(s),
                            state(s),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "WHEN", "CALL", "QUEUE", "NEXT", "STATE"], &rows);
            });
        }
        SchedulesCommand::Create {
            name,
            module,
            function,
            args,
            timing,
            options,
            paused,
        } => {
            let (delay, cron) = timing.parts();
            let options = options.parse()?;
            let body = ScheduleCreate {
                name,
                module,
                function,
                args: match args {
                    Some(text) => super::parse_json_arg("ARGS", &text)?,
                    None => Value::Null,
                },
                queue: options.queue,
                limits: options.limits.unwrap_or_default(),
                begin_by: options.begin_by,
                priority: options.priority.unwrap_or_default(),
                quota_keys: options.quota_keys.unwrap_or_default(),
                delay,
                cron,
                active: paused.then_some(false),
                catch_up: options.catch_up,
                retry_delay: options.retry_delay,
                next_call_time: options.next_call_time,
            };
            let schedule: Schedule = client.post_as("/v1/schedules", &body).await?;
            emit(json, &schedule, |s| {
                println!("created schedule {}; next call {}", s.name, next(s));
            });
        }
        SchedulesCommand::Show { name, runs } => {
            let view: ScheduleView = client
                .get_as(&format!("{}?runs={runs}", path(&name)))
                .await?;
            emit(json, &view, print_schedule);
        }
        SchedulesCommand::Update {
            name,
            module,
            function,
            args,
            timing,
            options,
        } => {
            let (delay, cron) = timing.parts();
            let options = options.parse()?;
            let body = SchedulePatchBody {
                module,
                function,
                args: args
                    .map(|text| super::parse_json_arg("--args", &text))
                    .transpose()?,
                queue: options.queue,
                limits: options.limits,
                begin_by: options.begin_by.map(Some),
                priority: options.priority,
                quota_keys: options.quota_keys,
                delay,
                cron,
                active: None,
                catch_up: options.catch_up,
                retry_delay: options.retry_delay,
                next_call_time: options.next_call_time,
            };
            let schedule: Schedule = client.patch_as(&path(&name), &body).await?;
            emit(json, &schedule, |s| {
                println!("updated schedule {name}; next call {}", next(s));
            });
        }
        SchedulesCommand::Pause { name } => {
            let schedule: Schedule = client
                .post_empty_as(&format!("{}/pause", path(&name)))
                .await?;
            emit(json, &schedule, |_| println!("paused schedule {name}"));
        }
        SchedulesCommand::Resume { name } => {
            let schedule: Schedule = client
                .post_empty_as(&format!("{}/resume", path(&name)))
                .await?;
            emit(json, &schedule, |s| {
                println!("resumed schedule {name}; next call {}", next(s));
            });
        }
        SchedulesCommand::Delete { name } => {
            let answer = client.delete(&path(&name)).await?;
            emit(json, &answer, |_| println!("deleted schedule {name}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn next(schedule: &Schedule) -> String {
    schedule
        .next_call_time
        .as_ref()
        .map_or_else(|| "-".to_owned(), time)
}

/// `every 10s`, `cron 10 4 * * *`, `minute=[10] hour=[4]`.
fn when(timing: &Timing) -> String {
    match timing {
        Timing::Delay { delay_ms } => format!(
            "every {}",
            humantime::format_duration(Duration::from_millis(*delay_ms))
        ),
        Timing::Cron {
            expression: Some(expression),
            ..
        } => format!("cron {expression}"),
        Timing::Cron {
            spec,
            expression: None,
        } => [
            ("minute", &spec.minute),
            ("hour", &spec.hour),
            ("day_of_month", &spec.day_of_month),
            ("month", &spec.month),
            ("day_of_week", &spec.day_of_week),
        ]
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(name, list)| format!("{name}={}", serde_json::json!(list)))
        .collect::<Vec<_>>()
        .join(" "),
    }
}

fn call(schedule: &Schedule) -> String {
    let job = &schedule.job;
    format!(
        "{}:{}({})",
        job.module.as_deref().unwrap_or("-"),
        job.function,
        short_json(&job.args, 40)
    )
}

fn state(schedule: &Schedule) -> String {
    let mut state = if schedule.active {
        "active".to_owned()
    } else {
        "paused".to_owned()
    };
    if schedule.last_error.is_some() {
        state.push_str(", failing");
    }
    state
}

fn print_schedule(view: &ScheduleView) {
    let s = &view.schedule;
    println!("schedule   {}", s.name);
    println!("id         {}", s.id);
    println!("when       {} (UTC)", when(&s.timing));
    println!("call       {}", call(s));
    println!(
        "queue      {}",
        queue_label(s.job.queue.as_deref().unwrap_or_default())
    );
    println!("state      {}", state(s));
    println!("catch up   {}", s.catch_up.as_str());
    println!("next call  {}", next(s));
    if let Some(last) = &s.last_call_time {
        println!("last call  {}", time(last));
    }
    if let (Some(until), Some(holder)) = (&s.retry_time, &s.holder) {
        println!("held by    {holder} until {}", time(until));
    }
    if let Some(error) = &s.last_error {
        println!("last error {error}");
    }
    let rows: Vec<Vec<String>> = view
        .runs
        .iter()
        .map(|job| {
            let outcome = if job.status == JobStatus::Completed {
                outcome_line(job)
            } else {
                String::new()
            };
            vec![
                job.schedule
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |run| time(&run.occurrence)),
                job.id.to_string(),
                job.status.to_string(),
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
