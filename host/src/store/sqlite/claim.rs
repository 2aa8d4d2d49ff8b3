//! `jobs`: claims (pending → assigned) and starts (assigned → active), each
//! one statement per batch.

use std::collections::HashMap;
use std::sync::LazyLock;

use uuid::Uuid;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::queue::QUEUE_ORDER;
use super::row::{self, JOB_COLUMNS, lit, ms};
use crate::clock;
use crate::model::{Job, JobId, Transition};
use crate::store::{JobClaimParams, JobStartParams, JobStarted, Result};

/// The claim statement for a filter shape: `[none, modules, functions,
/// both]`.
///
/// `UPDATE … WHERE seq IN (SELECT … ORDER BY … LIMIT n) RETURNING`: the
/// subquery walks `jobs_pending` from its start and stops after `n`
/// matches, and the update of those rows is the same statement, so no
/// other writer (thread or process) can claim them in between. The agent's
/// filter is part of the subquery: a job it does not match is skipped, not
/// claimed and handed back.
pub(super) static CLAIM: LazyLock<[String; 4]> =
    LazyLock::new(|| [0, 1, 2, 3].map(|shape| claim_sql(shape & 1 != 0, shape & 2 != 0)));

fn claim_sql(modules: bool, functions: bool) -> String {
    let t = Transition::Claim;
    let mut filters = String::new();
    let mut param = 6;
    if modules {
        filters.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(?{param}) AS p \
             WHERE c.module_name GLOB p.value OR c.module GLOB p.value)"
        ));
        param += 1;
    }
    if functions {
        filters.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(?{param}) AS p WHERE c.function GLOB p.value)"
        ));
    }
    format!(
        "UPDATE jobs SET status = {to}, dispatcher = ?1, agent = ?2 \
         WHERE seq IN (SELECT c.seq FROM jobs AS c \
           WHERE c.status = {from} AND c.queue = ?3 AND c.begin_after <= ?4{filters} \
           ORDER BY {QUEUE_ORDER} LIMIT ?5) \
         AND status = {from} \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
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

/// Claims due pending jobs for an agent, in queue order.
pub(super) async fn claim_many(db: &SqliteStore, p: JobClaimParams) -> Result<Vec<Job>> {
    if p.limit == 0 {
        return Ok(Vec::new());
    }
    let modules = p.filter.as_ref().map_or(&[][..], |f| &f.modules[..]);
    let functions = p.filter.as_ref().map_or(&[][..], |f| &f.functions[..]);
    let shape = usize::from(!modules.is_empty()) | (usize::from(!functions.is_empty()) << 1);
    let mut query = sqlx::query(&CLAIM[shape])
        .bind(p.dispatcher.0)
        .bind(&p.agent)
        .bind(&p.queue)
        .bind(ms(p.now))
        .bind(i64::from(p.limit));
    if !modules.is_empty() {
        query = query.bind(glob_patterns(modules));
    }
    if !functions.is_empty() {
        query = query.bind(glob_patterns(functions));
    }
    let rows = query.fetch_all(&db.writer).await?;
    let mut claimed = rows.iter().map(row::job).collect::<Result<Vec<_>>>()?;
    claimed.sort_by_key(|(seq, job)| (job.begin_after, !job.scheduled, *seq));
    Ok(claimed.into_iter().map(|(_, job)| job).collect())
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
        for (id, n) in query.fetch_all(&db.writer).await? {
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
        assert!(!CLAIM[0].contains("?6"));
        assert!(CLAIM[1].contains("?6") && !CLAIM[1].contains("?7"));
        assert!(CLAIM[2].contains("c.function GLOB") && CLAIM[2].contains("?6"));
        assert!(CLAIM[3].contains("?7"));
    }
}
