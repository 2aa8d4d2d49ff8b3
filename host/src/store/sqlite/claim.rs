//! `jobs`: claims (pending → assigned) and starts (assigned → active), each
//! one statement per batch, or both in one statement.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::sqlite::SqliteArguments;
use uuid::Uuid;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::one_trip::bind;
use super::queue::QUEUE_ORDER;
use super::row::{self, JOB_COLUMNS, lit, ms};
use crate::clock;
use crate::model::{Job, JobId, Transition};
use crate::store::{JobClaimParams, JobStartParams, JobStarted, Result};

/// The number of filter shapes: which of the agent's module and function
/// patterns and its preference's module and function patterns are present
/// (one bit each, in that order).
pub(super) const SHAPES: usize = 16;

/// The shape of a claim's filters (see [`SHAPES`]), and the pattern lists
/// to bind, in order, for the clauses [`filter_clauses`] writes.
pub(super) fn filter_shape(p: &JobClaimParams) -> (usize, Vec<String>) {
    let lists = [
        p.filter.as_ref().map(|f| &f.modules[..]),
        p.filter.as_ref().map(|f| &f.functions[..]),
        p.preferred.as_ref().map(|f| &f.modules[..]),
        p.preferred.as_ref().map(|f| &f.functions[..]),
    ];
    let mut shape = 0;
    let mut binds = Vec::new();
    for (bit, list) in lists.into_iter().enumerate() {
        if let Some(list) = list.filter(|l| !l.is_empty()) {
            shape |= 1 << bit;
            binds.push(glob_patterns(list));
        }
    }
    (shape, binds)
}

/// ` AND EXISTS (…)` for each pattern list of `shape`, numbering their
/// parameters from `?first`. Module patterns match the name the job was
/// put by or its digest; function patterns its function.
pub(super) fn filter_clauses(shape: usize, first: usize) -> String {
    let mut clauses = String::new();
    let mut param = first;
    for bit in 0..4 {
        if shape & (1 << bit) == 0 {
            continue;
        }
        let test = if bit % 2 == 0 {
            "c.module_name GLOB p.value OR c.module GLOB p.value"
        } else {
            "c.function GLOB p.value"
        };
        clauses.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(?{param}) AS p WHERE {test})"
        ));
        param += 1;
    }
    clauses
}

/// Not past its deadline at `?{now}`: a job whose `begin_after +
/// begin_by_ms` is before now is never claimed (it expires instead).
pub(super) fn not_expired(now: usize) -> String {
    format!("(c.begin_by_ms IS NULL OR c.begin_after + c.begin_by_ms >= ?{now})")
}

/// The claim statement, by filter shape, for a queue without quotas.
///
/// `UPDATE … WHERE seq IN (SELECT … ORDER BY … LIMIT n) RETURNING`: the
/// subquery walks `jobs_pending` from its start and stops after `n`
/// matches, and the update of those rows is the same statement, so no
/// other writer (thread or process) can claim them in between. The agent's
/// filter is part of the subquery: a job it does not match is skipped, not
/// claimed and handed back; so is a broadcast's copy pinned to another
/// dispatcher. Nothing is claimed from a paused queue or for a
/// paused dispatcher (one-time `NOT EXISTS` on the tiny pause tables, in
/// the same statement: no round trip of its own).
/// The statement claims nothing when the queue
/// has a quota or a rate (`NOT EXISTS`, evaluated once): such a queue is
/// claimed by [`super::quota::claim`], which counts the quotas' slots and
/// the rate's starts.
///
/// Indexed by whether the claim starts the jobs too (see
/// [`JobClaimParams::start`]), then by filter shape.
pub(super) static CLAIM: LazyLock<[[String; SHAPES]; 2]> = LazyLock::new(|| {
    [
        std::array::from_fn(|shape| claim_sql(shape, false)),
        std::array::from_fn(|shape| claim_sql(shape, true)),
    ]
});

fn claim_sql(shape: usize, start: bool) -> String {
    let t = Transition::Claim;
    format!(
        "UPDATE jobs SET status = {to}, dispatcher = ?1, agent = ?2{started} \
         WHERE seq IN (SELECT c.seq FROM jobs AS c \
           WHERE c.status = {from} AND c.queue = ?3 AND c.begin_after <= ?4 \
             AND {not_expired} \
             AND NOT EXISTS (SELECT 1 FROM quotas AS q WHERE q.queue = ?3) \
             AND NOT EXISTS (SELECT 1 FROM queues AS rq WHERE rq.name = ?3 AND rq.rate_limit IS NOT NULL) \
             AND NOT EXISTS (SELECT 1 FROM queue_pauses AS pq WHERE pq.queue = ?3) \
             AND NOT EXISTS (SELECT 1 FROM dispatcher_pauses AS pd WHERE pd.dispatcher = ?1) AND (c.pinned_to IS NULL OR c.pinned_to = ?1){filters} \
           ORDER BY {QUEUE_ORDER} LIMIT ?5) \
         AND status = {from} \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(if start { Transition::Start } else { t }.to()),
        started = if start { STARTED } else { "" },
        not_expired = not_expired(4),
        filters = filter_clauses(shape, 6),
    )
}

/// What a claim that starts its jobs sets besides the claim's columns.
const STARTED: &str = ", attempts = attempts + 1, started_at = ?4";

/// Binds a claim's arguments, in the order [`CLAIM`] numbers them.
fn bind_claim<'q>(
    args: &mut SqliteArguments<'q>,
    p: &'q JobClaimParams,
    patterns: &'q [String],
) -> Result<(), sqlx::Error> {
    for n in 1..=5 + patterns.len() {
        bind_claim_param(args, p, patterns, n)?;
    }
    Ok(())
}

/// Binds the value of a claim's parameter `?n` ([`CLAIM`]), its pattern
/// lists those of [`filter_shape`].
pub(super) fn bind_claim_param<'q>(
    args: &mut SqliteArguments<'q>,
    p: &'q JobClaimParams,
    patterns: &'q [String],
    n: usize,
) -> Result<(), sqlx::Error> {
    match n {
        1 => bind(args, p.dispatcher.0),
        2 => bind(args, p.agent.as_str()),
        3 => bind(args, p.queue.as_str()),
        4 => bind(args, ms(p.now)),
        5 => bind(args, i64::from(p.limit)),
        n => bind(args, patterns[n - 6].as_str()),
    }
}

fn start_sql(rows: usize) -> String {
    let t = Transition::Start;
    format!(
        "UPDATE jobs SET status = {to}, attempts = attempts + 1, started_at = ? \
         WHERE dispatcher = ? AND status = {from} AND id IN ({ids}) \
         RETURNING id, attempts",
        from = lit(t.from()),
        to = lit(t.to()),
        ids = batch::placeholders(rows),
    )
}

pub(super) static START: Statements = Statements::new(start_sql);

/// Our patterns (`*`, `?`, everything else literal) as SQLite GLOB
/// patterns, where `[` would open a character class: `[` becomes `[[]`.
fn glob_patterns(patterns: &[String]) -> String {
    let escaped: Vec<String> = patterns.iter().map(|p| p.replace('[', "[[]")).collect();
    serde_json::Value::from(escaped).to_string()
}

/// [`CLAIM`] on `conn` (see [`crate::store::puts::PutTx`]).
pub(super) async fn claim_in_one_statement<'c>(
    conn: impl sqlx::SqliteExecutor<'c>,
    p: &JobClaimParams,
) -> Result<Vec<(i64, Job)>> {
    let (shape, patterns) = filter_shape(p);
    let mut args = SqliteArguments::default();
    bind_claim(&mut args, p, &patterns)?;
    let rows = sqlx::query_with(&CLAIM[usize::from(p.start)][shape], args)
        .fetch_all(conn)
        .await?;
    rows.iter().map(row::job).collect()
}

/// Starts claimed jobs still assigned to the dispatcher.
pub(super) async fn start_many(db: &SqliteStore, p: JobStartParams) -> Result<Vec<JobStarted>> {
    let mut attempts = HashMap::with_capacity(p.ids.len());
    for chunk in p.ids.chunks(batch::MAX_ROWS) {
        let rows = batch::bucket(chunk.len());
        let mut query = sqlx::query_as::<_, (Uuid, i64)>(START.get(rows))
            .bind(ms(p.now))
            .bind(p.dispatcher.0);
        for id in batch::padded(chunk, rows) {
            query = query.bind(id.0);
        }
        for (id, n) in query.fetch_all(&mut *db.writer.acquire().await?).await? {
            attempts.insert(JobId(id), row::to_u32("jobs", "attempts", n)?);
        }
    }
    let started_at = clock::from_millis(ms(p.now));
    Ok(p.ids
        .iter()
        .filter_map(|&id| {
            attempts.remove(&id).map(|attempts| JobStarted {
                id,
                attempts,
                started_at,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_literal_in_patterns() {
        let json = glob_patterns(&["a[1]*".to_owned(), "b?".to_owned()]);
        assert_eq!(json, r#"["a[[]1]*","b?"]"#);
    }

    #[test]
    fn claim_statements_number_their_parameters() {
        for claim in &*CLAIM {
            assert!(!claim[0].contains("?6"));
            assert!(claim[1].contains("?6") && !claim[1].contains("?7"));
            assert!(claim[2].contains("c.function GLOB") && claim[2].contains("?6"));
            assert!(claim[3].contains("?7") && !claim[3].contains("?8"));
            assert!(claim[15].contains("?9") && !claim[15].contains("?10"));
        }
        assert!(CLAIM[1][0].contains("started_at = ?4") && !CLAIM[0][0].contains("started_at ="));
        assert_eq!(filter_clauses(0b0100, 6), filter_clauses(0b0001, 6));
    }

    #[test]
    fn preferences_narrow_the_filter() {
        let mut p = JobClaimParams {
            dispatcher: crate::model::DispatcherId::new(),
            queue: String::new(),
            agent: "a".into(),
            filter: Some(crate::model::AgentFilter {
                modules: vec!["m*".into()],
                functions: Vec::new(),
            }),
            preferred: None,
            limit: 1,
            now: crate::clock::from_millis(0),
            start: false,
        };
        assert_eq!(filter_shape(&p), (0b0001, vec![r#"["m*"]"#.to_owned()]));
        p.preferred = Some(crate::model::AgentFilter {
            modules: Vec::new(),
            functions: vec!["mul".into()],
        });
        assert_eq!(
            filter_shape(&p),
            (
                0b1001,
                vec![r#"["m*"]"#.to_owned(), r#"["mul"]"#.to_owned()]
            )
        );
    }
}
