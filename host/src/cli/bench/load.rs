//! The load: puts over HTTP from many connections, one job a request or
//! a batch a request, and the wait for every job to complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model::{Job, JobStatus, Timestamp};
use crate::wire::JobSpec;
use crate::wire::operators::JobCount;

/// How often the wait for completions counts them.
const COUNT_POLL: Duration = Duration::from_millis(10);
/// How long the count of completed jobs may stand still before the
/// benchmark gives up.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// An HTTP client of the server under load.
#[derive(Debug, Clone)]
pub struct Target {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// What one phase of puts measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Jobs put.
    pub jobs: usize,
    /// From the first put sent to the last answered.
    pub puts: Duration,
    /// From the first put sent to the last job seen completed.
    pub processed: Duration,
    /// The server's write transactions meanwhile (`None`: its metrics
    /// could not be read).
    pub writes: Option<Writes>,
}

impl Throughput {
    /// Jobs put a second.
    pub fn puts_per_sec(&self) -> f64 {
        self.jobs as f64 / self.puts.as_secs_f64()
    }

    /// Jobs processed a second, first put to last completion.
    pub fn processed_per_sec(&self) -> f64 {
        self.jobs as f64 / self.processed.as_secs_f64()
    }
}

/// The server's write transactions of one phase, by kind, as its
/// `/metrics` counts them (`wasync_store_operation_seconds_count`): the
/// put path's inserts, the claim loop's claims, the starts of jobs
/// claimed apart, the completer's finishes. Each is one transaction; each
/// that writes is one durable commit (a claim that finds nothing writes
/// nothing). How many a phase takes per job is what its commits cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Writes {
    /// Put transactions (the put batcher's and the batch endpoint's).
    pub put: u64,
    /// Claim statements of the claim loop (a put's commit may claim too,
    /// inside its own transaction: not counted here).
    pub claim: u64,
    /// Starts of jobs claimed apart (queues with quotas or a rate).
    pub start: u64,
    /// Finish transactions.
    pub finish: u64,
}

impl Writes {
    /// The counts in a Prometheus text exposition (others' lines ignored).
    fn of_metrics(text: &str) -> Writes {
        let mut writes = Writes::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("wasync_store_operation_seconds_count{operation=\"")
            else {
                continue;
            };
            let Some((operation, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let count = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
            match operation {
                "put" => writes.put = count,
                "claim" => writes.claim = count,
                "start" => writes.start = count,
                "finish" => writes.finish = count,
                _ => {}
            }
        }
        writes
    }

    /// What was counted since `before`.
    fn since(self, before: Writes) -> Writes {
        Writes {
            put: self.put.saturating_sub(before.put),
            claim: self.claim.saturating_sub(before.claim),
            start: self.start.saturating_sub(before.start),
            finish: self.finish.saturating_sub(before.finish),
        }
    }
}

/// One idle job's way, as the client saw it and as the server dated it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// From sending the put to seeing the job completed.
    pub seen: Duration,
    /// `completed_at - created_at` of the job.
    pub server: Option<Duration>,
}

impl Target {
    /// A client of `base`, with `token` if given.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Target {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn answer(
        response: reqwest::Response,
        what: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| what.to_owned())?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// `GET path`, which must succeed, read as `R` (a wire type).
    pub async fn get_as<R: DeserializeOwned>(&self, path: &str) -> anyhow::Result<R> {
        let value = self.get(path).await?;
        serde_json::from_value(value).with_context(|| format!("GET {path}: an unexpected answer"))
    }

    /// `GET path`, which must succeed.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let (status, value) = Self::answer(response, path).await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {value}");
        }
        Ok(value)
    }

    /// `POST path` with a JSON body already encoded; it must answer 201.
    async fn post_created(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let response = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let (status, value) = Self::answer(response, path).await?;
        if status != StatusCode::CREATED {
            bail!("POST {path}: {status} {value}");
        }
        Ok(value)
    }

    /// Uploads `bytes` as module `name`.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::POST, &format!("/v1/modules?name={name}"))
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .body(bytes)
            .send()
            .await
            .context("uploading the module")?;
        let (status, value) = Self::answer(response, "upload").await?;
        if !status.is_success() {
            bail!("uploading the module: {status} {value}");
        }
        Ok(())
    }

    /// The server's write transactions so far (`None`: `/metrics` did not
    /// answer them, e.g. a server that refuses this token there).
    pub async fn writes(&self) -> Option<Writes> {
        let response = self
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        Some(Writes::of_metrics(&response.text().await.ok()?))
    }

    /// How many jobs are `state` (`completed`, `failed`), in every queue.
    pub async fn count(&self, state: &str) -> anyhow::Result<u64> {
        let answer: JobCount = self
            .get_as(&format!("/v1/jobs/count?state={state}"))
            .await?;
        Ok(answer.count)
    }

    /// Puts `job` `samples` times, one at a time, each once the one
    /// before has completed.
    pub async fn idle_latency(&self, job: &JobSpec, samples: usize) -> anyhow::Result<Vec<Sample>> {
        let body = serde_json::to_vec(job)?;
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let sent = Instant::now();
            let put: Job =
                serde_json::from_value(self.post_created("/v1/jobs", body.clone()).await?)
                    .context("a put answers the job")?;
            let id = put.id;
            let done = loop {
                let job: Job = self
                    .get_as(&format!("/v1/jobs/{id}/wait?timeout=30s"))
                    .await?;
                if job.status == JobStatus::Completed {
                    break job;
                }
                if sent.elapsed() > STALL_LIMIT {
                    bail!(
                        "job {id} did not complete within {STALL_LIMIT:?}: {}",
                        job.status
                    );
                }
            };
            out.push(Sample {
                seen: sent.elapsed(),
                server: server_latency(done.created_at, done.completed_at),
            });
        }
        Ok(out)
    }

    /// Puts `jobs` copies of `job` from `connections` connections, `batch`
    /// a request (1: `POST /v1/jobs`; more: `POST /v1/jobs/batch`), then
    /// waits until the server counts `completed_before + jobs` completed.
    pub async fn drive(
        &self,
        job: &JobSpec,
        jobs: usize,
        batch: usize,
        connections: usize,
        completed_before: u64,
    ) -> anyhow::Result<Throughput> {
        let batch = batch.max(1);
        // The body of a full request, encoded once: the load generator
        // spends its time on the wire, not on JSON.
        let (path, body) = if batch == 1 {
            ("/v1/jobs", serde_json::to_vec(job)?)
        } else {
            ("/v1/jobs/batch", serde_json::to_vec(&vec![job; batch])?)
        };
        let writes_before = self.writes().await;
        let next = Arc::new(AtomicUsize::new(0));
        let requests = jobs.div_ceil(batch);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections.clamp(1, requests.max(1)) {
            let (target, next, job, body) = (self.clone(), next.clone(), job.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        return anyhow::Ok(());
                    }
                    let size = batch.min(jobs - n * batch);
                    let body = if size == batch {
                        body.clone()
                    } else {
                        serde_json::to_vec(&vec![&job; size])?
                    };
                    target.post_created(path, body).await?;
                }
            }));
        }
        for task in tasks {
            task.await.context("a putting task failed")??;
        }
        let puts = started.elapsed();
        self.wait_completed(completed_before + jobs as u64).await?;
        let processed = started.elapsed();
        let writes = match (writes_before, self.writes().await) {
            (Some(before), Some(after)) => Some(after.since(before)),
            _ => None,
        };
        Ok(Throughput {
            jobs,
            puts,
            processed,
            writes,
        })
    }

    /// Waits until the server counts `target` completed jobs; gives up if
    /// the count stands still for [`STALL_LIMIT`].
    async fn wait_completed(&self, target: u64) -> anyhow::Result<()> {
        let mut last = (0, Instant::now());
        loop {
            let completed = self.count("completed").await?;
            if completed >= target {
                return Ok(());
            }
            if completed != last.0 {
                last = (completed, Instant::now());
            } else if last.1.elapsed() > STALL_LIMIT {
                bail!("{completed} of {target} jobs completed, and none more for {STALL_LIMIT:?}");
            }
            tokio::time::sleep(COUNT_POLL).await;
        }
    }
}

/// `completed_at - created_at` of a job (`None` while not completed).
fn server_latency(created_at: Timestamp, completed_at: Option<Timestamp>) -> Option<Duration> {
    (completed_at? - created_at).to_std().ok()
}

/// The `p`-th percentile (0–100) of sorted durations, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_transactions_are_read_from_the_metrics() {
        let text = "# HELP wasync_store_operation_seconds Latency\n\
            wasync_store_operation_seconds_sum{operation=\"put\"} 8.07\n\
            wasync_store_operation_seconds_count{operation=\"put\"} 3112\n\
            wasync_store_operation_seconds_count{operation=\"claim\"} 2723\n\
            wasync_store_operation_seconds_count{operation=\"count\"} 9\n\
            wasync_store_operation_seconds_count{operation=\"finish\"} 3654.0\n\
            wasync_claim_batch_size_count{queue=\"default\"} 2936\n";
        let writes = Writes::of_metrics(text);
        assert_eq!(
            writes,
            Writes {
                put: 3112,
                claim: 2723,
                start: 0,
                finish: 3654
            }
        );
        let before = Writes {
            put: 100,
            claim: 23,
            start: 0,
            finish: 54,
        };
        assert_eq!(
            writes.since(before),
            Writes {
                put: 3012,
                claim: 2700,
                start: 0,
                finish: 3600
            }
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&ms, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&ms[..1], 50.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn the_servers_latency_is_read_from_the_jobs_times() {
        let time = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let created = time("2026-12-05T10:00:00.000Z");
        let completed = time("2026-12-05T10:00:00.002500Z");
        assert_eq!(
            server_latency(created, Some(completed)),
            Some(Duration::from_micros(2500))
        );
        assert_eq!(server_latency(created, None), None);
    }
}
