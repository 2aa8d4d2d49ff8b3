//! Marking a job as one a client waits for (`JobStore::job_watch`), so
//! that the finish of its run, in whichever process, announces its
//! completion (`TELL` in `finish.rs`).
//!
//! The mark must be ordered with the finish: either the finish sees the
//! mark, or the waiter's read after the mark sees the job completed. A
//! job that has left its queue is marked on its row (`jobs.watched`): the
//! mark and the finish both update the row, so they take turns.
//!
//! A pending job is marked beside its row, in `job_watches` (migration
//! 0031), and its row is not touched: a claim picks jobs `FOR UPDATE SKIP
//! LOCKED`, so a mark holding a pending row made a claim that ran meanwhile
//! pass over it and start a job of lower priority first (seen in e2e
//! `priorities` on PostgreSQL). No lock is needed there: when the read
//! after the mark's commit still finds the job pending, no claim of it had
//! committed yet, and its finish, issued only after its claim committed,
//! reads with a snapshot that holds the mark. A job that left its queue
//! between the mark and that read is marked on its row after all. The
//! marks beside rows are dropped as their jobs' completions are announced
//! (`CASCADE` in `finish.rs`), so the table holds only jobs still awaited.

use std::sync::LazyLock;

use sqlx::Row as _;
use uuid::Uuid;

use super::PgStore;
use super::row::lit;
use crate::model::JobStatus;
use crate::store::Result;
use crate::store::sql::corrupt;

/// How many times the mark follows a job that moves between pending and
/// out of its queue before it marks the row whatever the status.
const ATTEMPTS: usize = 3;

/// Marks the row of a job that is out of its queue and not done.
static MARK_ROW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET watched = true \
         WHERE id = $1 AND NOT watched AND status NOT IN ({pending}, {completed}, {cancelled})",
        pending = lit(JobStatus::Pending),
        completed = lit(JobStatus::Completed),
        cancelled = lit(JobStatus::Cancelled),
    )
});

/// Marks a pending job beside its row. The mark is dropped when the
/// job's completion is announced (`CASCADE` in `finish.rs`).
const MARK_PENDING: &str = "INSERT INTO job_watches (job_id) VALUES ($1) ON CONFLICT DO NOTHING";

/// Drops the marks of a job that is done or gone.
const UNMARK: &str = "DELETE FROM job_watches WHERE job_id = $1";

/// The last resort, for a job that kept moving: marks its row whatever its
/// status, and announces a pending job's queue as a put on commit (a
/// claim that ran while the mark held the row skipped it).
static MARK_ANY_ROW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH marked AS ( \
           UPDATE jobs SET watched = true \
           WHERE id = $1 AND NOT watched AND status NOT IN ({completed}, {cancelled}) \
           RETURNING status, queue) \
         SELECT pg_notify($2, json_build_object('put', json_build_array(queue))::text) \
         FROM marked WHERE status = {pending}",
        completed = lit(JobStatus::Completed),
        cancelled = lit(JobStatus::Cancelled),
        pending = lit(JobStatus::Pending),
    )
});

/// Where a job stands for its mark.
enum Seen {
    /// Unknown or done: nothing to mark.
    Done,
    /// Its row is marked already.
    Marked,
    /// Pending: marked beside its row.
    Pending,
    /// Out of its queue and not done: marked on its row.
    OutOfQueue,
}

/// Reads where the job stands.
async fn read(db: &PgStore, id: Uuid) -> Result<Seen> {
    let row = sqlx::query("SELECT status, watched FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(Seen::Done);
    };
    let status: String = row.try_get(0)?;
    let status: JobStatus = status.parse().map_err(|e| corrupt("jobs", e))?;
    let watched: bool = row.try_get(1)?;
    Ok(match status {
        _ if status.is_terminal() => Seen::Done,
        _ if watched => Seen::Marked,
        JobStatus::Pending => Seen::Pending,
        _ => Seen::OutOfQueue,
    })
}

/// Marks `id` as waited for, each statement committed on its own (see the
/// module's comment). Nothing for a job that is unknown, done or marked.
pub(super) async fn mark(db: &PgStore, id: Uuid) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let marked = sqlx::query(&MARK_ROW).bind(id).execute(&db.pool).await?;
        if marked.rows_affected() > 0 {
            return Ok(());
        }
        match read(db, id).await? {
            Seen::Done | Seen::Marked => return Ok(()),
            // Left its queue after the mark looked: mark the row.
            Seen::OutOfQueue => continue,
            Seen::Pending => {}
        }
        sqlx::query(MARK_PENDING).bind(id).execute(&db.pool).await?;
        match read(db, id).await? {
            Seen::Pending | Seen::Marked => return Ok(()),
            // Completed (and announced) before the mark committed: nothing
            // would drop the mark.
            Seen::Done => {
                sqlx::query(UNMARK).bind(id).execute(&db.pool).await?;
                return Ok(());
            }
            // Claimed before the mark beside the row committed: its finish
            // may not see that mark, so mark the row.
            Seen::OutOfQueue => continue,
        }
    }
    mark_any_row(&db.pool, db, id).await
}

/// Marks the row of `id` whatever its status: the mark inside a
/// transaction, where a mark beside the row would be seen only at commit.
pub(super) async fn mark_any_row<'e>(
    conn: impl sqlx::Executor<'e, Database = sqlx::Postgres>,
    db: &PgStore,
    id: Uuid,
) -> Result<()> {
    sqlx::query(&MARK_ANY_ROW)
        .bind(id)
        .bind(&*db.channel)
        .execute(conn)
        .await?;
    Ok(())
}
