//! The load: puts over HTTP from many connections, one job a request or
//! a batch a request, and the wait for every job to complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;

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

    /// How many jobs are `state` (`completed`, `failed`), in every queue.
    pub async fn count(&self, state: &str) -> anyhow::Result<u64> {
        let answer = self.get(&format!("/v1/jobs/count?state={state}")).await?;
        answer["count"]
            .as_u64()
            .with_context(|| format!("the count is not a number: {answer}"))
    }

    /// Puts `job` `samples` times, one at a time, each once the one
    /// before has completed.
    pub async fn idle_latency(&self, job: &Value, samples: usize) -> anyhow::Result<Vec<Sample>> {
        let body = serde_json::to_vec(job)?;
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let sent = Instant::now();
            let put = self.post_created("/v1/jobs", body.clone()).await?;
            let id = put["id"].as_str().context("a put answers the job")?;
            let done = loop {
                let job = self.get(&format!("/v1/jobs/{id}/wait?timeout=30s")).await?;
                if job["status"] == "completed" {
                    break job;
                }
                if sent.elapsed() > STALL_LIMIT {
                    bail!("job {id} did not complete within {STALL_LIMIT:?}: {job}");
                }
            };
            out.push(Sample {
                seen: sent.elapsed(),
                server: server_latency(&done),
            });
        }
        Ok(out)
    }

    /// Puts `jobs` copies of `job` from `connections` connections, `batch`
    /// a request (1: `POST /v1/jobs`; more: `POST /v1/jobs/batch`), then
    /// waits until the server counts `completed_before + jobs` completed.
    pub async fn drive(
        &self,
        job: &Value,
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
        Ok(Throughput {
            jobs,
            puts,
            processed: started.elapsed(),
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

/// `completed_at - created_at` of a job.
fn server_latency(job: &Value) -> Option<Duration> {
    let time = |field: &str| {
        job[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    (time("completed_at")? - time("created_at")?).to_std().ok()
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
    use serde_json::json;

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
        let job = json!({
            "created_at": "2026-12-05T10:00:00.000Z",
            "completed_at": "2026-12-05T10:00:00.002500Z",
        });
        assert_eq!(server_latency(&job), Some(Duration::from_micros(2500)));
        assert_eq!(server_latency(&json!({})), None);
    }
}
