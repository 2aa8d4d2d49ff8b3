//! How client commands print: human-readable by default, the server's
//! JSON with `--json`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{Job, JobStatus, Timestamp};

/// Prints `value` (the server's JSON, or a wire type read from it) as
/// pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => println!("(not JSON: {e})"),
    }
}

/// Prints a reply: as JSON with `--json` (`json`), otherwise for people
/// with `human`.
pub fn emit<T: Serialize>(json: bool, reply: &T, human: impl FnOnce(&T)) {
    if json {
        print_json(reply);
    } else {
        human(reply);
    }
}

/// A queue name for people: `""` is shown as `default`.
pub fn queue_label(name: &str) -> String {
    if name.is_empty() {
        "default".to_owned()
    } else {
        name.to_owned()
    }
}

/// A one-line JSON rendering, cut to `max` characters.
pub fn short_json(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The outcome of a completed job in one line: `result "200 OK"` or
/// `failure out-of-fuel: ...`.
pub fn outcome_line(job: &Job) -> String {
    match &job.failure {
        Some(failure) => format!("failure {}: {}", failure.kind, failure.message),
        None => format!(
            "result {}",
            short_json(job.result.as_ref().unwrap_or(&Value::Null), 200)
        ),
    }
}

/// A time as the API writes it (RFC 3339, UTC, `Z`).
pub fn time(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Prints a job and its annotations for people.
pub fn print_job(job: &Job, annotations: &BTreeMap<String, Value>) {
    println!("job        {}", job.id);
    println!("status     {}", job.status);
    println!("queue      {}", queue_label(&job.queue));
    let module = match &job.module_name {
        Some(name) => format!("{name} ({})", job.module),
        None => job.module.to_string(),
    };
    println!("module     {module}");
    println!(
        "call       {}({})",
        job.function,
        short_json(&job.args, 200)
    );
    println!("attempts   {}", job.attempts);
    println!("created    {}", time(&job.created_at));
    if job.scheduled {
        println!("begin      after {}", time(&job.begin_after));
    }
    if let Some(ms) = job.begin_by_ms {
        println!("begin by   {ms} ms after begin_after");
    }
    if !job.quota_names.is_empty() {
        let names: Vec<String> = job
            .quota_names
            .iter()
            .map(|q| json!(q).to_string())
            .collect();
        println!("quotas     {}", names.join(", "));
    }
    if let Some(started) = &job.started_at {
        println!("started    {}", time(started));
    }
    if let Some(completed) = &job.completed_at {
        println!("completed  {}", time(completed));
    }
    if let Some(dispatcher) = &job.dispatcher {
        println!(
            "ran by     {dispatcher} / agent {}",
            job.agent.as_deref().unwrap_or("-")
        );
    }
    if let Some(schedule) = &job.schedule {
        println!(
            "schedule   {}, occurrence {}",
            schedule.schedule_id,
            time(&schedule.occurrence)
        );
    }
    if let Some(awaiting) = &job.awaiting {
        println!("awaiting   {awaiting}");
    }
    if job.status == JobStatus::Completed {
        println!("outcome    {}", outcome_line(job));
    }
    if let Some(detail) = job.failure.as_ref().and_then(|f| f.detail.as_deref()) {
        println!("detail\n{}", indent(detail));
    }
    if !annotations.is_empty() {
        println!("annotations");
        for (name, value) in annotations {
            println!("  {name} = {}", short_json(value, 200));
        }
    }
    for (stream, text) in [("stdout", &job.stdout), ("stderr", &job.stderr)] {
        if let Some(text) = text
            && !text.is_empty()
        {
            println!("{stream}\n{}", indent(text));
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints rows as aligned columns under a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
