//! The statements a finish runs inside its transaction on SQLite, counted:
//! each is a round trip to sqlx's database thread, and at idle those
//! round trips are most of a job's put → completed time (issue 16). The
//! finish runs over the real store's transaction, through a wrapper that
//! names every statement passing through it.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::SqliteStore;
use super::tx::SqliteTx;
use crate::model::{
    CallbackOn, DispatcherId, FailureKind, JobId, JobLink, JobStatus, LinkedJob, ModuleInfo,
    RunOutcome, Timestamp,
};
use crate::store::conformance::kit::*;
use crate::store::finishes::{self, Await, Done, FinishTx, Written};
use crate::store::settle::{InsertRow, Outcome, SettleTx};
use crate::store::statement::{Arg, Dialect, SQLITE, SqlConn, SqlRow};
use crate::store::{FinishReport, JobFinishParams, JobStore, Result, Store};

/// A transaction that records what runs through it: one entry per
/// statement sent to the database (a batch step given nothing sends none).
struct Counting<'t, 'c> {
    tx: &'t mut SqliteTx<'c>,
    statements: Vec<String>,
}

impl Counting<'_, '_> {
    fn sent(&mut self, what: &str, rows: usize) {
        if rows > 0 {
            self.statements.push(what.to_owned());
        }
    }

    /// A statement written once for both backends, named by its first
    /// three words.
    fn sent_sql(&mut self, sql: &str) {
        let words: Vec<&str> = sql.split_whitespace().take(3).collect();
        self.sent(&words.join(" "), 1);
    }
}

#[async_trait]
impl SqlConn for Counting<'_, '_> {
    fn dialect(&self) -> &'static Dialect {
        &SQLITE
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        self.sent_sql(sql);
        self.tx.execute(sql, args).await
    }

    async fn fetch_all(
        &mut self,
        table: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<SqlRow>> {
        self.sent_sql(sql);
        self.tx.fetch_all(table, sql, args).await
    }

    async fn fetch_all_planned_each_run(
        &mut self,
        table: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<SqlRow>> {
        self.sent_sql(sql);
        self.tx.fetch_all_planned_each_run(table, sql, args).await
    }
}

#[async_trait]
impl SettleTx for Counting<'_, '_> {
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>> {
        self.sent("await cascade", ids.len());
        self.tx.resolve_awaits(ids, now).await
    }

    async fn fire(&mut self, jobs: &[(JobId, Value)], now: Timestamp) -> Result<Vec<String>> {
        self.sent("fire callbacks", jobs.len());
        self.tx.fire(jobs, now).await
    }

    async fn pass_through(
        &mut self,
        jobs: &[(JobId, Outcome)],
        now: Timestamp,
    ) -> Result<Vec<JobId>> {
        self.sent("pass outcomes through", jobs.len());
        self.tx.pass_through(jobs, now).await
    }

    async fn insert(&mut self, rows: &[InsertRow<'_>]) -> Result<()> {
        self.sent("insert linked jobs", rows.len());
        self.tx.insert(rows).await
    }
}

#[async_trait]
impl FinishTx for Counting<'_, '_> {
    async fn write_done(&mut self, done: &[Done<'_>]) -> Result<Vec<Written>> {
        self.sent("finish", done.len());
        self.tx.write_done(done).await
    }

    fn writes_alone(&self) -> bool {
        self.tx.writes_alone()
    }

    async fn write_awaits(&mut self, awaits: &[Await<'_>]) -> Result<Vec<JobId>> {
        self.sent("park awaits", awaits.len());
        self.tx.write_awaits(awaits).await
    }

    async fn record_failures(&mut self, failed: &[(JobId, FailureKind)]) -> Result<()> {
        self.sent("record failures", failed.len());
        self.tx.record_failures(failed).await
    }
}

/// Finishes `batch` in one transaction of `store`, as `job_finish_many`
/// does; returns the report and the statements run inside.
async fn finish_counted(
    store: &SqliteStore,
    batch: &[JobFinishParams],
) -> (FinishReport, Vec<String>) {
    let mut tx = store.begin().await.unwrap();
    let mut inner = SqliteTx(&mut tx);
    let mut counting = Counting {
        tx: &mut inner,
        statements: Vec::new(),
    };
    let report = finishes::finish(&mut counting, batch).await.unwrap();
    let statements = counting.statements;
    tx.commit().await.unwrap();
    (report, statements)
}

/// Runs the one job due in the default queue, which must be `id`, and
/// finishes it with `value` (at `at` ms, then 10 ms later), counted.
async fn run_and_finish(
    store: &SqliteStore,
    d: DispatcherId,
    id: JobId,
    value: Value,
    at: i64,
) -> (FinishReport, Vec<String>) {
    assert_eq!(run(store, d, "", 1, t(at)).await, [id]);
    finish_counted(
        store,
        &[outcome(d, id, RunOutcome::Value(value), t(at + 10))],
    )
    .await
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("finish.db"))
        .await
        .unwrap();
    (dir, store)
}

/// `n` plain jobs put and started by one dispatcher at 1 ms.
async fn running(store: &SqliteStore, n: usize) -> (DispatcherId, Vec<JobId>) {
    let m = module(store, "m", None).await;
    put_n(store, "", &m, n).await;
    let d = dispatcher(store).await;
    (d, run(store, d, "", n as u32, t(1)).await)
}

#[tokio::test]
async fn a_finish_of_plain_jobs_reads_nothing_back() {
    let (_dir, store) = store().await;
    let (d, j) = running(&store, 3).await;
    let batch: Vec<JobFinishParams> = j
        .iter()
        .map(|id| outcome(d, *id, RunOutcome::Value(json!(1)), t(20)))
        .collect();

    let (report, statements) = finish_counted(&store, &batch).await;

    assert_eq!(report.completed, j);
    // The batch write alone: neither the jobs' links, nor their callbacks,
    // nor their awaiters are read (the write returned what settling needs).
    assert_eq!(statements, ["finish"]);
}

/// A job put at 1 ms with a callback on its success (held until the job
/// completes): the job and its callback.
async fn parent_with_callback(s: &dyn Store, m: &ModuleInfo) -> (JobId, JobId) {
    let parent = new_job("", m, "f", t(1));
    let callback = LinkedJob {
        job: new_job("", m, "on_done", t(1)),
        held: true,
        link: Some(JobLink::Callback {
            of: parent.id,
            on: CallbackOn::Success,
        }),
    };
    let ids = (parent.id, callback.job.id);
    let parent = LinkedJob {
        job: parent,
        held: false,
        link: None,
    };
    s.job_insert_linked(&[parent, callback], t(1))
        .await
        .unwrap();
    ids
}

#[tokio::test]
async fn a_finish_still_fires_callbacks_and_moves_parents_on() {
    let (_dir, store) = store().await;
    let s: &dyn Store = &store;
    let m = module(s, "m", None).await;
    let (parent_id, callback_id) = parent_with_callback(s, &m).await;
    let d = dispatcher(s).await;

    // The parent has a callback pending: its callbacks are read and fired.
    let (_, statements) = run_and_finish(&store, d, parent_id, json!(1), 10).await;
    assert!(
        statements.iter().any(|s| s == "fire callbacks"),
        "{statements:?}"
    );
    let fired = s.job_get(callback_id).await.unwrap();
    assert_eq!(fired.status, JobStatus::Pending);
    assert_eq!(fired.args, json!([1, "two", {"three": 3.5}, 1]));

    // The callback's own finish knows its link without reading it, and
    // completes the parent.
    let (report, statements) = run_and_finish(&store, d, callback_id, json!(2), 30).await;
    assert!(report.completed.contains(&parent_id), "{report:?}");
    assert_eq!(
        statements,
        [
            "finish",
            // Its link known, the parent's callbacks are done at once.
            "UPDATE jobs SET",
            // The parent, completed by that, is settled in the next round:
            // nothing is known of it, so its callbacks and links are read.
            "await cascade",
            "SELECT c.id, c.callback_on,",
            "SELECT id, status,",
        ]
    );
    assert_eq!(
        s.job_get(parent_id).await.unwrap().status,
        JobStatus::Completed
    );
}

#[tokio::test]
async fn a_job_awaited_by_its_own_batch_resolves_its_awaiter() {
    let (_dir, store) = store().await;
    let (d, jobs) = running(&store, 2).await;
    let [a, b] = jobs[..] else { unreachable!() };
    // The write reads `a` as awaited by no job; `b` parks on it after.
    let batch = [
        outcome(d, a, RunOutcome::Value(json!(7)), t(2)),
        outcome(d, b, RunOutcome::Await(a), t(2)),
    ];
    let (report, statements) = finish_counted(&store, &batch).await;
    assert_eq!(report.completed, [a, b]);
    assert_eq!(store.job_get(b).await.unwrap().result, Some(json!(7)));
    assert!(
        statements.iter().filter(|s| *s == "await cascade").count() >= 1,
        "{statements:?}"
    );
}

/// A small batch without failures goes in one trip whose gate commits it
/// at once only when its write left nothing to settle
/// (`finish_in_one_trip`): a batch holding a job with a callback to fire
/// and a job another job awaits is stopped, and settled as any batch; a
/// batch of plain jobs commits.
#[tokio::test]
async fn a_finish_in_one_trip_still_settles_what_its_write_left() {
    let (_dir, store) = store().await;
    let s: &dyn Store = &store;
    let m = module(s, "m", None).await;
    let (parent_id, callback_id) = parent_with_callback(s, &m).await;
    let three = put_n(s, "", &m, 3).await;
    let [awaited, awaiter, plain] = three[..] else {
        unreachable!()
    };
    let d = dispatcher(s).await;
    let mut ran = run(s, d, "", 4, t(2)).await;
    ran.sort();
    let mut all = vec![parent_id, awaited, awaiter, plain];
    all.sort();
    assert_eq!(ran, all);
    let parked = s
        .job_finish_many(&[outcome(d, awaiter, RunOutcome::Await(awaited), t(3))])
        .await
        .unwrap();
    assert_eq!(parked.awaiting, [awaiter]);

    let value = |id, v| outcome(d, id, RunOutcome::Value(json!(v)), t(4));
    let batch = [value(parent_id, 1), value(awaited, 2), value(plain, 3)];
    let report = s.job_finish_many(&batch).await.unwrap();

    assert!(report.completed.contains(&awaiter), "{report:?}");
    let fired = s.job_get(callback_id).await.unwrap();
    assert_eq!(fired.status, JobStatus::Pending, "the callback fired");
    assert_eq!(
        s.job_get(parent_id).await.unwrap().status,
        JobStatus::Callbacks
    );
    let resolved = s.job_get(awaiter).await.unwrap();
    assert_eq!(resolved.status, JobStatus::Completed);
    assert_eq!(resolved.result, Some(json!(2)), "the awaited job's result");
    assert_eq!(s.job_get(plain).await.unwrap().result, Some(json!(3)));
    // The gate's condition, read again once the batch is done.
    assert!(left_to_settle(&store, &[parent_id]).await, "callbacks left");
    assert!(left_to_settle(&store, &[callback_id]).await, "a link");
    assert!(!left_to_settle(&store, &[plain, awaited]).await);

    // Plain jobs only: the gate lets the trip commit (in a debug build,
    // `finishes::report_written` checks that the write's rows agree).
    let (_dir, store) = self::store().await;
    let s: &dyn Store = &store;
    let (d, jobs) = running(&store, 5).await;
    let batch: Vec<JobFinishParams> = jobs
        .iter()
        .map(|id| outcome(d, *id, RunOutcome::Value(json!(5)), t(6)))
        .collect();
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!(report.completed, jobs);
    for id in &jobs {
        assert_eq!(s.job_get(*id).await.unwrap().status, JobStatus::Completed);
    }
    assert!(
        !left_to_settle(&store, &jobs).await,
        "the gate lets them through"
    );
}

/// The gate's condition ([`finishes::left_to_settle`]) over `ids`, as it
/// reads the store now.
async fn left_to_settle(store: &SqliteStore, ids: &[JobId]) -> bool {
    let placeholders = vec!["?"; ids.len()].join(", ");
    let sql = format!("SELECT {}", finishes::left_to_settle(&placeholders));
    let mut query = sqlx::query_scalar::<_, bool>(&sql);
    for id in ids {
        query = query.bind(id.0);
    }
    let mut conn = store.writer.acquire().await.unwrap();
    query.fetch_one(&mut *conn).await.unwrap()
}
