//! Long jobs whose runs the jobs themselves count: each
//! `annotate::long_mark` job marks a ledger job as it starts (`started:`)
//! and as it ends (`ran:`), and waits for the ledger's `release`
//! annotation in between. A job that ran once shows one of each, whatever
//! the queue's bookkeeping says.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Http, Server, wait_until};

/// A job's id.
pub fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// The dispatcher id `server` keeps in its data directory.
pub fn dispatcher_id(server: &Server) -> String {
    Server::kept_dispatcher_id(&server.data_dir)
}

/// A ledger job for the long jobs to mark (a `hello` job: the first
/// worker runs it, quickly).
pub async fn ledger(http: &Http) -> String {
    http.upload_example("annotate").await;
    http.upload_example("hello").await;
    id(&http.put_job("hello", "hello", json!([])).await)
}

/// How many marks starting with `prefix` each job left on the ledger.
pub async fn marks(http: &Http, ledger: &str, prefix: &str) -> BTreeMap<String, usize> {
    let marks = http.ok(&format!("/v1/jobs/{ledger}/annotations")).await;
    let mut counts = BTreeMap::new();
    for name in marks.as_object().expect("annotations").keys() {
        if let Some(rest) = name.strip_prefix(prefix) {
            let job = rest.split(':').next().unwrap().to_owned();
            *counts.entry(job).or_default() += 1;
        }
    }
    counts
}

/// Lets every long job end.
pub async fn release(http: &Http, ledger: &str) {
    let (status, body) = http
        .put(
            &format!("/v1/jobs/{ledger}/annotations/release"),
            json!(true),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
}

/// A job's failed attempts.
pub async fn attempts(http: &Http, job: &str) -> Vec<Value> {
    http.ok(&format!("/v1/jobs/{job}/attempts")).await["attempts"]
        .as_array()
        .expect("attempts")
        .clone()
}

/// Waits until every job is active on `dispatcher`.
pub async fn wait_active_on(http: &Http, jobs: &[String], dispatcher: &str) {
    wait_until("every job running on the dispatcher", || async {
        for job in jobs {
            let job = http.ok(&format!("/v1/jobs/{job}")).await;
            if job["status"] != "active" || job["dispatcher"] != dispatcher {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Waits until each job's code has started `runs` times (its `started:`
/// marks): `active` alone is set just before the guest runs.
pub async fn wait_started(http: &Http, ledger: &str, jobs: &[String], runs: usize) {
    wait_until("every job's code started", || async {
        let started = marks(http, ledger, "started:").await;
        jobs.iter()
            .all(|job| started.get(job) == Some(&runs))
            .then_some(())
    })
    .await;
}
