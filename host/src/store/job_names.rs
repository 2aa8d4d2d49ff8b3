//! Named jobs, written once for both backends: a name for a module's
//! function with its queue and arguments, and the policy (retry, limits,
//! priority, uniqueness, keys in partitioned quotas) a put by name uses.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tracing::instrument;

use super::sql::ms;
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow};
use super::{Error, Result};
use crate::clock;
use crate::model::{JobLimits, JobName, JobSpec, RetryPolicy, UniqueSpec};

/// The policy a named job keeps for its puts, as its `policy` column
/// stores it (JSON; NULL when every field is its default).
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Policy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    limits: JobLimits,
    #[serde(default, skip_serializing_if = "is_zero")]
    priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unique: Option<UniqueSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    quota_keys: BTreeMap<String, String>,
}

fn is_zero(priority: &i32) -> bool {
    *priority == 0
}

/// Named jobs.
#[async_trait]
pub trait JobNameStore: Send + Sync + std::fmt::Debug {
    /// Registers a named job, or replaces the one of that name (keeping
    /// its creation time). Returns it as stored.
    async fn job_name_set(&self, name: &JobName) -> Result<JobName>;
    /// A named job.
    async fn job_name_get(&self, name: &str) -> Result<JobName>;
    /// Every named job, by name.
    async fn job_name_list(&self) -> Result<Vec<JobName>>;
    /// Forgets a named job (jobs put by it stay).
    async fn job_name_delete(&self, name: &str) -> Result<()>;
}

#[async_trait]
impl<B: SqlBackend> JobNameStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_name_set(&self, n: &JobName) -> Result<JobName> {
        set(&mut self.writes(), n).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_get(&self, name: &str) -> Result<JobName> {
        get(&mut self.reads(), name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_list(&self) -> Result<Vec<JobName>> {
        list(&mut self.reads()).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_delete(&self, name: &str) -> Result<()> {
        delete(&mut self.writes(), name).await
    }
}

const COLUMNS: &str = "name, module, function, queue, args, created_at, updated_at, policy";

fn job_name(r: &SqlRow) -> Result<JobName> {
    let policy: Policy = r.opt_json(7)?.unwrap_or_default();
    Ok(JobName {
        name: r.text(0)?,
        job: JobSpec {
            module: Some(r.text(1)?),
            function: r.text(2)?,
            queue: Some(r.text(3)?),
            args: r.json(4)?,
            retry: policy.retry,
            limits: policy.limits,
            priority: policy.priority,
            unique: policy.unique,
            quota_keys: policy.quota_keys,
            ..JobSpec::default()
        },
        created_at: clock::from_millis(r.int(5)?),
        updated_at: clock::from_millis(r.int(6)?),
    })
}

fn no_job_name(name: &str) -> Error {
    Error::not_found(format!("job name `{name}`"))
}

/// Registers a named job, or replaces the one of that name (keeping its
/// creation time); returns it as stored.
async fn set<C: SqlConn + ?Sized>(conn: &mut C, n: &JobName) -> Result<JobName> {
    static SET: Sql = Sql::new(|d| {
        format!(
            "INSERT INTO job_names ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5{json}, ?6, ?6, ?7) \
             ON CONFLICT (name) DO UPDATE SET module = excluded.module, \
               function = excluded.function, queue = excluded.queue, args = excluded.args, \
               updated_at = excluded.updated_at, policy = excluded.policy \
             RETURNING {COLUMNS}",
            json = d.json
        )
    });
    let args_text = n.job.args.to_string();
    let policy = Policy {
        retry: n.job.retry.clone(),
        limits: n.job.limits.clone(),
        priority: n.job.priority,
        unique: n.job.unique.clone(),
        quota_keys: n.job.quota_keys.clone(),
    };
    let policy = (policy != Policy::default())
        .then(|| serde_json::to_string(&policy).expect("a policy serializes to JSON"));
    let args = [
        Arg::Text(&n.name),
        Arg::Text(n.job.module_ref()),
        Arg::Text(&n.job.function),
        Arg::Text(n.job.queue_ref()),
        Arg::Json(&args_text),
        Arg::Int(ms(n.updated_at)),
        Arg::OptText(policy.as_deref()),
    ];
    let sql = SET.text(conn.dialect());
    let row = conn.fetch_optional("job_names", sql, &args).await?;
    job_name(&row.ok_or_else(|| no_job_name(&n.name))?)
}

/// A named job.
async fn get<C: SqlConn + ?Sized>(conn: &mut C, name: &str) -> Result<JobName> {
    let sql = conn
        .dialect()
        .render(&format!("SELECT {COLUMNS} FROM job_names WHERE name = ?1"));
    let row = conn
        .fetch_optional("job_names", &sql, &[Arg::Text(name)])
        .await?;
    job_name(&row.ok_or_else(|| no_job_name(name))?)
}

/// Every named job, by name.
async fn list<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<JobName>> {
    let sql = format!("SELECT {COLUMNS} FROM job_names ORDER BY name");
    let rows = conn.fetch_all("job_names", &sql, &[]).await?;
    rows.iter().map(job_name).collect()
}

/// Forgets a named job.
async fn delete<C: SqlConn + ?Sized>(conn: &mut C, name: &str) -> Result<()> {
    let sql = conn
        .dialect()
        .render("DELETE FROM job_names WHERE name = ?1");
    if conn.execute(&sql, &[Arg::Text(name)]).await? == 0 {
        return Err(no_job_name(name));
    }
    Ok(())
}
