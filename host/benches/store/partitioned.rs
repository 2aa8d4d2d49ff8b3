//! `claim-partitioned` (issue 18 §3): the cost of a claim from a queue
//! whose jobs are spread over the keys of a partitioned quota, most of
//! them full, next to the cost of a claim from the same queue under one
//! plain quota.
//!
//! Both stores hold 100,000 pending jobs and 1,980 in flight. The
//! partitioned store's quota has size 2 and 1,000 keys (100 pending jobs
//! each, put round-robin, so the full keys' jobs come first in queue order
//! as often as the others'): 990 keys hold 2 jobs each (full), 10 have
//! room. The plain store's jobs all name one quota of size 10,000. After
//! each timed claim the claimed jobs are started and finished and as many
//! jobs of the same keys put (untimed), so both stores keep their shape.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use wasync::model::{CapturedOutput, JobId, NewJob, RunOutcome, stored_quota_names};
use wasync::store::{JobFinishParams, JobStartParams, QuotaCreateParams};

use super::{Backend, Bench, LOAD_BATCH, WARM_UP, report_claims, t};

const KEYS: usize = 1_000;
const FULL_KEYS: usize = 990;
const SIZE: u32 = 2;
const PENDING: usize = 100_000;

/// A bench store with its quota, and what its jobs name.
struct Shaped {
    b: Bench,
    partitioned: bool,
}

impl Shaped {
    /// `n` jobs, the i-th of key `keys(i)` (a plain job of the quota for
    /// the plain store).
    fn jobs(&self, n: usize, at: i64, key: impl Fn(usize) -> usize) -> Vec<NewJob> {
        self.b
            .jobs(n, t(at))
            .into_iter()
            .enumerate()
            .map(|(i, job)| {
                let entries = if self.partitioned {
                    let keys = BTreeMap::from([("tenants".to_owned(), format!("k{:04}", key(i)))]);
                    stored_quota_names(&[], &keys)
                } else {
                    vec!["plain".to_owned()]
                };
                NewJob {
                    quota_names: entries,
                    ..job
                }
            })
            .collect()
    }

    async fn insert(&self, jobs: Vec<NewJob>) {
        for chunk in jobs.chunks(LOAD_BATCH) {
            self.b.store.job_insert_many(chunk).await.expect("load");
        }
    }

    /// Starts and finishes claimed jobs.
    async fn run(&self, ids: &[JobId], at: i64) {
        let d = self.b.dispatcher;
        let start = JobStartParams {
            dispatcher: d,
            ids: ids.to_vec(),
            now: t(at),
        };
        self.b.store.job_start_many(start).await.expect("start");
        let outcomes: Vec<JobFinishParams> = ids
            .iter()
            .map(|&id| JobFinishParams {
                id,
                dispatcher: d,
                outcome: RunOutcome::Value(json!(1)),
                output: CapturedOutput::default(),
                now: t(at),
                run: None,
            })
            .collect();
        self.b
            .store
            .job_finish_many(&outcomes)
            .await
            .expect("finish");
    }
}

async fn shaped(backend: &Backend, partitioned: bool) -> Shaped {
    let s = Shaped {
        b: Bench::new(backend, 1).await,
        partitioned,
    };
    s.b.store
        .quota_create(QuotaCreateParams {
            queue: String::new(),
            name: if partitioned { "tenants" } else { "plain" }.to_owned(),
            size: if partitioned { SIZE } else { 10_000 },
            partitioned,
            rate: None,
            now: t(0),
        })
        .await
        .expect("quota");
    let began = Instant::now();
    // The jobs in flight first: two of each full key.
    let in_flight = FULL_KEYS * SIZE as usize;
    s.insert(s.jobs(in_flight, 0, |i| i / SIZE as usize)).await;
    let mut claimed = 0;
    while claimed < in_flight {
        let got = s.b.claim(512, t(1)).await.len();
        assert!(got > 0, "the first jobs are claimable");
        claimed += got;
    }
    s.insert(s.jobs(PENDING, 2, |i| i % KEYS)).await;
    println!(
        "  loaded {} ({PENDING} pending, {in_flight} in flight) in {:.1} s",
        if partitioned {
            "partitioned: 1,000 keys of size 2, 990 full"
        } else {
            "plain: one quota of size 10,000"
        },
        began.elapsed().as_secs_f64()
    );
    s
}

/// Claims `limit` (timed); runs them and puts as many of the same keys
/// (untimed).
async fn timed(s: &Shaped, limit: u32, tick: i64) -> Duration {
    let began = Instant::now();
    let jobs =
        s.b.store
            .job_claim_many(wasync::store::JobClaimParams {
                dispatcher: s.b.dispatcher,
                queue: String::new(),
                agent: "main".to_owned(),
                filter: None,
                preferred: None,
                limit,
                now: t(tick),
                start: false,
            })
            .await
            .expect("claim");
    let took = began.elapsed();
    assert_eq!(jobs.len(), limit as usize, "a claim takes its limit");
    let keys: Vec<usize> = jobs
        .iter()
        .map(|j| {
            j.quota_keys
                .get("tenants")
                .and_then(|k| k[1..].parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    s.run(&ids, tick).await;
    s.insert(s.jobs(ids.len(), tick, |i| keys[i])).await;
    took
}

/// The section: both stores, claims alternating.
pub(super) async fn claim_partitioned(backend: &Backend, rounds: usize) {
    let stores = [shaped(backend, false).await, shaped(backend, true).await];
    let mut tick = 10;
    for s in &stores {
        for _ in 0..WARM_UP {
            tick += 1;
            timed(s, 10, tick).await;
        }
    }
    for limit in [10u32, 1] {
        let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
        for _ in 0..rounds {
            tick += 1;
            for (s, times) in stores.iter().zip(&mut times) {
                times.push(timed(s, limit, tick).await);
            }
        }
        let what = ["plain quota", "partitioned"].map(|name| format!(", {name:<11}"));
        report_claims(limit, what, &mut times, "partitioned / plain");
    }
    for s in stores {
        s.b.close().await;
    }
}
