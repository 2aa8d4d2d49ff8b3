//! Queue activity: jobs by state now, and the jobs finished per bucket of
//! a window with their waits.

use super::Harness;
use super::kit::*;
use super::operators::finished_jobs;
use crate::store::{ActivityWindow, FinishedBucket};

pub(crate) async fn activity_counts_states_and_finished_buckets<H: Harness>(h: H) {
    let s = h.store();
    // Put at t(0): j0 succeeds at t(10), j1 fails at t(20) (both started
    // at t(5)), j2 is cancelled at t(30), j3 succeeds at t(40) (started at
    // t(35)), j4 is pending.
    finished_jobs(&*s).await;
    s.queue_create("idle", t(0)).await.unwrap();

    let states: Vec<(String, String, u64)> = s
        .activity_states()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.queue, c.state, c.count))
        .collect();
    let expected = [
        ("cancelled", 1),
        ("failed", 1),
        ("pending", 1),
        ("succeeded", 2),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .into_iter()
        .map(|(state, n)| (String::new(), state.to_owned(), n))
        .collect();
    assert_eq!(states, expected);

    let bucket = |bucket, succeeded, failed, cancelled, wait_ms_sum, waits| FinishedBucket {
        queue: String::new(),
        bucket,
        succeeded,
        failed,
        cancelled,
        wait_ms_sum,
        waits,
    };
    let window = ActivityWindow {
        since: t(0),
        bucket_ms: 20,
    };
    assert_eq!(
        s.activity_finished(window).await.unwrap(),
        vec![
            bucket(0, 1, 0, 0, 5, 1),
            bucket(1, 0, 1, 1, 5, 1),
            bucket(2, 1, 0, 0, 35, 1),
        ]
    );
    // A later window leaves the earlier jobs out.
    let window = ActivityWindow {
        since: t(25),
        bucket_ms: 10,
    };
    assert_eq!(
        s.activity_finished(window).await.unwrap(),
        vec![bucket(0, 0, 0, 1, 0, 0), bucket(1, 1, 0, 0, 35, 1)]
    );
}
