//! `wasync put --from FILE`: many jobs from a file, in batches of
//! `POST /v1/jobs/batch`, with a progress bar on a terminal.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::ClientArgs;
use super::client::ClientError;
use crate::model::JobId;
use crate::wire::jobs::BatchPut;

/// Puts every job of `from` (a path, `-` for standard input) in batches
/// of at most `batch_size`, printing the ids in order as each batch is
/// stored. A refused batch stops the command: the batches before it stay
/// put (their ids are printed), none after it is sent.
pub async fn run(
    client_args: &ClientArgs,
    from: &str,
    batch_size: usize,
) -> anyhow::Result<ExitCode> {
    if batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let text = read_source(from)?;
    let jobs =
        parse_jobs(&text).with_context(|| format!("reading jobs from {}", source_name(from)))?;
    let client = client_args.client();
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} jobs put [{elapsed}, {per_sec}]")
            .expect("valid template"),
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut all_ids: Vec<JobId> = Vec::with_capacity(jobs.len());
    // Per job, whether it was a duplicate (listed in `--json` only if any).
    let mut all_duplicates: Vec<bool> = Vec::with_capacity(jobs.len());
    for (number, batch) in jobs.chunks(batch_size).enumerate() {
        let offset = number * batch_size;
        // The jobs go as the file gives them: the server names what is
        // wrong with one ("item 3: …").
        let answer: BatchPut = match client.post_as("/v1/jobs/batch", &batch).await {
            Ok(answer) => answer,
            Err(error) => {
                bar.abandon();
                out.flush()?;
                return Err(refused(error, offset, batch.len()));
            }
        };
        let ids = answer.ids;
        for (index, _) in answer.duplicate.iter().enumerate().filter(|(_, d)| **d) {
            bar.suspend(|| {
                eprintln!(
                    "job {}: duplicate of job {} (its uniqueness key is held); nothing was put",
                    offset + index,
                    ids[index]
                )
            });
        }
        if answer.duplicate.is_empty() {
            all_duplicates.extend(std::iter::repeat_n(false, ids.len()));
        } else {
            all_duplicates.extend(answer.duplicate);
        }
        if !client_args.json {
            for id in &ids {
                writeln!(out, "{id}")?;
            }
        }
        bar.inc(ids.len() as u64);
        all_ids.extend(ids);
    }
    bar.finish_and_clear();
    if client_args.json {
        if !all_duplicates.contains(&true) {
            all_duplicates.clear();
        }
        let all = BatchPut {
            ids: all_ids,
            duplicate: all_duplicates,
        };
        writeln!(out, "{}", serde_json::to_string(&all)?)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn source_name(from: &str) -> String {
    if from == "-" {
        "standard input".to_owned()
    } else {
        format!("`{from}`")
    }
}

fn read_source(from: &str) -> anyhow::Result<String> {
    if from == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading jobs from standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(from).with_context(|| format!("cannot read `{from}`"))
    }
}

/// The jobs of a file: a JSON array of objects, or one object per line
/// (blank lines skipped). Their fields are the server's to check.
fn parse_jobs(text: &str) -> anyhow::Result<Vec<Value>> {
    let jobs: Vec<Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).context("not a JSON array of jobs")?
    } else {
        let mut jobs = Vec::new();
        for (line, item) in text.lines().enumerate() {
            if item.trim().is_empty() {
                continue;
            }
            let job = serde_json::from_str(item)
                .with_context(|| format!("line {}: not a JSON job", line + 1))?;
            jobs.push(job);
        }
        jobs
    };
    if let Some(index) = jobs.iter().position(|job| !job.is_object()) {
        bail!("job {index} is not a JSON object (`{{\"module\": …, \"function\": …}}`)");
    }
    Ok(jobs)
}

/// The error of a refused batch, its item counted in the whole file.
fn refused(error: ClientError, offset: usize, len: usize) -> anyhow::Error {
    let before = if offset == 0 {
        "nothing was put".to_owned()
    } else {
        format!("the {offset} jobs before it were put (their ids are printed)")
    };
    let error = match error {
        ClientError::Api {
            status,
            code,
            message,
        } => ClientError::Api {
            status,
            code,
            message: renumber(&message, offset),
        },
        other => other,
    };
    anyhow::anyhow!(
        "the batch of jobs {offset}–{} was refused, none of it put: {error}; {before}",
        offset + len - 1
    )
}

/// `item N: …` of a batch that starts at `offset` becomes `job N+offset: …`.
fn renumber(message: &str, offset: usize) -> String {
    let Some(rest) = message.strip_prefix("item ") else {
        return message.to_owned();
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    match rest[..digits].parse::<usize>() {
        Ok(index) => format!("job {}{}", index + offset, &rest[digits..]),
        Err(_) => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_lines() {
        let array =
            parse_jobs(r#" [{"module": "m", "function": "f"}, {"module": "m", "function": "g"}]"#)
                .unwrap();
        assert_eq!(array.len(), 2);
        let lines = parse_jobs("{\"module\": \"m\", \"function\": \"f\"}\n\n{\"module\": \"m\", \"function\": \"g\"}\n").unwrap();
        assert_eq!(lines, array);
        let bad = parse_jobs("{\"module\": \"m\"}\nnot json\n").unwrap_err();
        assert!(format!("{bad:#}").contains("line 2"), "{bad:#}");
        assert!(parse_jobs("[1]").unwrap_err().to_string().contains("job 0"));
        assert!(parse_jobs("").unwrap().is_empty());
    }

    #[test]
    fn items_are_renumbered_in_the_file() {
        assert_eq!(renumber("item 3: bad", 1000), "job 1003: bad");
        assert_eq!(renumber("item 3 (line 4): bad", 0), "job 3 (line 4): bad");
        assert_eq!(
            renumber("a batch holds at most 10", 0),
            "a batch holds at most 10"
        );
    }
}
