//! Unique jobs in the store, written once for both backends: the
//! predicate of the partial unique index `jobs_unique` (migration 0022),
//! the clause by which a batch insert skips a job whose key is held, and
//! the answer for each skipped job, the job that holds its key.
//!
//! The database decides which put wins: two processes putting the same
//! key at once both reach the index, and one insert is skipped. Reading
//! the holder afterwards only names the winner; if the holder left its
//! states in between (so the key is free again), the skipped job is
//! inserted again, a bounded number of times.
//!
//! A change of a pending job's arguments derives its key again when the
//! key was derived from them (`jobs.unique_derived`, migration 0029): the
//! same index refuses the new key if another job holds it, and the
//! change is refused naming that job ([`Error::UniqueKeyHeld`]).
//!
//! What a unique batch costs more than a plain one (issue 18 §2): one
//! more index entry per job, in `jobs_unique`. Where it lands decides the
//! cost. Every other index of `jobs` is ordered by time, so a batch
//! appends to a few pages; a key stored as a hash (as explicit keys were,
//! and derived keys still are) lands on a leaf of its own, and at 50,000
//! live keys a batch of 256 wrote ~300 SQLite WAL frames instead of ~35
//! (a narrower key, the hash's first 16 hex digits, still ~180: fewer
//! leaves, but still one per key). An explicit key is therefore stored as itself
//! (`model::unique`), so keys that follow time or a sequence append like
//! the rest (~45 frames); keys in no order still cost a leaf each.
//! The holders are read back only when a job was skipped.

use serde_json::Value;

use super::jobs::TunedJobs;
use super::sql::{JOB_COLUMNS, digest, from_u64_bits, job_of};
use super::statement::{Arg, Sql, SqlBackend, SqlConn};
use super::{Error, Result};
use crate::clock;
use crate::model::{Job, JobId, NewJob, derived_key, state_bit};

/// The `unique_derived` column of a job put: the period (in ms, 0 for
/// none) its key was derived with, or NULL when it has no key or an
/// explicit one (migration 0029). Both backends' inserts bind it.
pub(crate) fn derived_column(job: &NewJob) -> Option<i64> {
    job.unique
        .as_ref()
        .and_then(|u| u.derived_period_ms)
        .map(super::sql::u64_bits)
}

/// The predicate "the job's status is one of its key's states", spelled
/// the same in both backends (a bit per status: `model::state_bit`).
macro_rules! in_states {
    () => {
        "(unique_states & CASE status WHEN 'new' THEN 1 WHEN 'pending' THEN 2 \
         WHEN 'assigned' THEN 4 WHEN 'active' THEN 8 WHEN 'callbacks' THEN 16 \
         WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64 ELSE 0 END) <> 0"
    };
}

/// The rows `jobs_unique` holds: a key, in one of its states. The
/// migrations write this predicate word for word (a test checks), so that
/// a statement repeating it can use, and name, the index.
pub(crate) const IN_STATES: &str = concat!("unique_key IS NOT NULL AND ", in_states!());

/// Appended to a batch insert: a job whose key `jobs_unique` already holds
/// is skipped, not an error (any other conflict, a taken id or a
/// schedule's occurrence already put, still is). PostgreSQL appends it
/// only where a read of the index cannot do (`Held` in
/// `postgres/job.rs`): there it makes every row's insert speculative.
pub(crate) const SKIP_DUPLICATES: &str = concat!(
    "ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL AND ",
    in_states!(),
    " DO NOTHING"
);

/// The job of a queue holding a key in one of its states.
static HOLDER: Sql = Sql::new(|_| {
    format!("SELECT {JOB_COLUMNS} FROM jobs WHERE queue = ?1 AND unique_key = ?2 AND {IN_STATES}")
});

/// How many times a skipped job whose holder moved on is inserted again
/// (or a change of arguments refused for a key since freed is tried
/// again).
pub(crate) const ATTEMPTS: usize = 3;

/// What a job's derived key is derived from, if its key was derived: all
/// of it fixed at put, so reading it before a change of arguments races
/// with nothing.
static DERIVATION: Sql = Sql::new(|_| {
    "SELECT module, module_name, function, created_at, unique_derived FROM jobs \
     WHERE id = ?1 AND unique_derived IS NOT NULL"
        .to_owned()
});

/// Another job of a job's queue holding a key in one of its states.
static OTHER_HOLDER: Sql = Sql::new(|_| {
    format!(
        "SELECT id FROM jobs WHERE queue = (SELECT queue FROM jobs WHERE id = ?1) \
         AND unique_key = ?2 AND id <> ?1 AND {IN_STATES}"
    )
});

/// The key job `id` derives from `args`, if its key was derived from its
/// arguments (`None`: it has no key, or an explicit one).
pub(crate) async fn derived_again<B: SqlBackend>(
    db: &B,
    id: JobId,
    args: &Value,
) -> Result<Option<String>> {
    let mut conn = db.reads();
    let sql = DERIVATION.text(conn.dialect());
    let Some(row) = conn.fetch_optional("jobs", sql, &[Arg::Id(id.0)]).await? else {
        return Ok(None);
    };
    let module = match row.opt_text(1)? {
        Some(name) => name,
        None => digest("jobs", row.text(0)?)?.as_str().to_owned(),
    };
    Ok(Some(derived_key(
        &module,
        &row.text(2)?,
        args,
        from_u64_bits(row.int(4)?),
        clock::from_millis(row.int(3)?),
    )))
}

/// The job that holds `key` in the queue of job `id`, refusing a change
/// that gave `id` that key: [`Error::UniqueKeyHeld`]; `None` when no job
/// holds it any more (it left its states since), so the change may be
/// tried again.
pub(crate) async fn key_held<B: SqlBackend>(db: &B, id: JobId, key: &str) -> Result<Option<Error>> {
    let mut conn = db.reads();
    let sql = OTHER_HOLDER.text(conn.dialect());
    let args = [Arg::Id(id.0), Arg::Text(key)];
    Ok(conn
        .fetch_optional("jobs", sql, &args)
        .await?
        .map(|row| row.id(0))
        .transpose()?
        .map(|holder| Error::UniqueKeyHeld {
            job: id,
            holder: JobId(holder),
        }))
}

/// The jobs of a batch insert in order: each inserted one, and for each
/// skipped one (`None` in `out`) the job holding its key.
pub(crate) async fn resolve_skipped<B: SqlBackend + TunedJobs>(
    db: &B,
    jobs: &[NewJob],
    mut out: Vec<Option<Job>>,
) -> Result<Vec<Job>> {
    answer_with_the_batchs_own(jobs, &mut out);
    for _ in 0..ATTEMPTS {
        let mut again = Vec::new();
        for (index, slot) in out.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let job = &jobs[index];
            let Some(unique) = &job.unique else {
                return Err(Error::Conflict(format!(
                    "job {} was not inserted and has no uniqueness key",
                    job.id
                )));
            };
            let mut conn = db.reads();
            let sql = HOLDER.text(conn.dialect());
            let args = [Arg::Text(&job.queue), Arg::Text(&unique.key)];
            match conn.fetch_optional("jobs", sql, &args).await? {
                Some(row) => *slot = Some(job_of(&row)?.1),
                None => again.push(index),
            }
        }
        if again.is_empty() {
            break;
        }
        let retried: Vec<NewJob> = again.iter().map(|i| jobs[*i].clone()).collect();
        let inserted = super::puts::insert_many(db, &retried, &[]).await?.jobs;
        for (index, job) in again.into_iter().zip(inserted) {
            out[index] = job;
        }
    }
    out.into_iter()
        .zip(jobs)
        .map(|(job, new)| {
            job.ok_or_else(|| {
                Error::Conflict(format!(
                    "job {}: its uniqueness key kept changing hands; put it again",
                    new.id
                ))
            })
        })
        .collect()
}

/// Answers each skipped job whose key a job of the same batch took with
/// that job: the batch's own holder is known without a read, and reading
/// it could find it already run and completed (its key free again), which
/// would insert the duplicate after all.
fn answer_with_the_batchs_own(jobs: &[NewJob], out: &mut [Option<Job>]) {
    // Where each key a job of the batch took is held: that job's index.
    let mut taken: std::collections::HashMap<(&str, &str), usize> =
        std::collections::HashMap::new();
    for (index, (new, job)) in jobs.iter().zip(out.iter()).enumerate() {
        // Only a job put into one of its key's states holds it (one put
        // past its deadline is inserted `completed`).
        if let (Some(unique), Some(job)) = (&new.unique, job)
            && unique.states & state_bit(job.status) != 0
        {
            taken.insert((new.queue.as_str(), unique.key.as_str()), index);
        }
    }
    for (index, new) in jobs.iter().enumerate() {
        if out[index].is_none()
            && let Some(unique) = &new.unique
            && let Some(&holder) = taken.get(&(new.queue.as_str(), unique.key.as_str()))
        {
            out[index] = out[holder].clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobStatus;

    #[test]
    fn the_predicate_has_a_bit_per_status_and_the_migrations_repeat_it() {
        for status in JobStatus::ALL {
            let arm = format!("WHEN '{status}' THEN {}", state_bit(status));
            assert!(IN_STATES.contains(&arm), "{arm}");
        }
        for migration in [
            include_str!("sqlite/migrations/0022_unique_jobs.sql"),
            include_str!("postgres/migrations/0022_unique_jobs.sql"),
        ] {
            let text = migration.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(IN_STATES), "{text}");
        }
    }
}
