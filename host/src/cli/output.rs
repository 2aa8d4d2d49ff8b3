//! How client commands print: human-readable by default, the server's
//! JSON with `--json`.

use serde_json::Value;

/// Prints `value` as pretty JSON.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// A queue name for people: `""` is shown as `default`.
pub fn queue_name(value: &Value) -> String {
    match value.as_str() {
        Some("") | None => "default".to_owned(),
        Some(name) => name.to_owned(),
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
pub fn outcome_line(job: &Value) -> String {
    if let Some(failure) = job.get("failure") {
        format!(
            "failure {}: {}",
            failure["kind"].as_str().unwrap_or("?"),
            failure["message"].as_str().unwrap_or("")
        )
    } else {
        format!(
            "result {}",
            short_json(job.get("result").unwrap_or(&Value::Null), 200)
        )
    }
}

/// Prints a job for people.
pub fn print_job(job: &Value) {
    let field = |name: &str| {
        job.get(name)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    println!("job        {}", field("id"));
    println!("status     {}", field("status"));
    println!("queue      {}", queue_name(&job["queue"]));
    let module = match job.get("module_name").and_then(Value::as_str) {
        Some(name) => format!("{name} ({})", field("module")),
        None => field("module"),
    };
    println!("module     {module}");
    println!(
        "call       {}({})",
        field("function"),
        short_json(&job["args"], 200)
    );
    println!("attempts   {}", job["attempts"]);
    println!("created    {}", field("created_at"));
    if job["scheduled"].as_bool() == Some(true) {
        println!("begin      after {}", field("begin_after"));
    }
    if let Some(ms) = job.get("begin_by_ms").and_then(Value::as_u64) {
        println!("begin by   {ms} ms after begin_after");
    }
    if let Some(quotas) = job.get("quota_names").and_then(Value::as_array) {
        let names: Vec<String> = quotas.iter().map(|q| q.to_string()).collect();
        println!("quotas     {}", names.join(", "));
    }
    if job.get("started_at").is_some() {
        println!("started    {}", field("started_at"));
    }
    if job.get("completed_at").is_some() {
        println!("completed  {}", field("completed_at"));
    }
    if job.get("dispatcher").is_some() {
        println!(
            "ran by     {} / agent {}",
            field("dispatcher"),
            field("agent")
        );
    }
    if let Some(schedule) = job.get("schedule_id").and_then(Value::as_str) {
        println!("schedule   {schedule}, occurrence {}", field("occurrence"));
    }
    if let Some(awaiting) = job.get("awaiting").and_then(Value::as_str) {
        println!("awaiting   {awaiting}");
    }
    if job["status"] == "completed" {
        println!("outcome    {}", outcome_line(job));
    }
    if let Some(detail) = job.pointer("/failure/detail").and_then(Value::as_str) {
        println!("detail\n{}", indent(detail));
    }
    if let Some(annotations) = job.get("annotations").and_then(Value::as_object)
        && !annotations.is_empty()
    {
        println!("annotations");
        for (name, value) in annotations {
            println!("  {name} = {}", short_json(value, 200));
        }
    }
    for stream in ["stdout", "stderr"] {
        if let Some(text) = job.get(stream).and_then(Value::as_str)
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
