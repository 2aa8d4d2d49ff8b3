//! Tokens in the store, written once for both backends: scoped API
//! tokens (kept by the hash of their secret), the token each job was put
//! with, who uploaded each module, and the token a schedule puts its
//! jobs with. What a token may do is decided above the store
//! ([`Authority`](crate::model::Authority)); the store only remembers.

use async_trait::async_trait;
use tracing::instrument;

use super::sql::{corrupt, digest, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow};
use super::{Error, Result};
use crate::clock;
use crate::model::{JobId, ModuleDigest, ScheduleId, Scope, Timestamp, Token, TokenId};

const T: &str = "tokens";
const COLUMNS: &str = "id, name, queues, scopes, created_at";

/// Who uploaded a module: one row per uploader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleUpload {
    /// The module.
    pub digest: ModuleDigest,
    /// The uploader's token (`None`: the admin).
    pub token: Option<TokenId>,
}

/// The store's operations on tokens and on what records them.
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Stores a new token with the SHA-256 (hex) of its secret.
    /// [`Error::Conflict`] if its name is taken.
    async fn token_insert(&self, token: &Token, hash: &str) -> Result<Token>;
    /// Every token, by name.
    async fn token_list(&self) -> Result<Vec<Token>>;
    /// The token whose secret hashes to `hash`, if any.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<Token>>;
    /// A token by id, if it still exists.
    async fn token_get(&self, id: TokenId) -> Result<Option<Token>>;
    /// Revokes a token: deletes it, so that its secret is refused and
    /// what recorded its id acts with nothing. [`Error::NotFound`] for an
    /// unknown name.
    async fn token_delete(&self, name: &str) -> Result<()>;
    /// The token a job was put with (`None`: the admin).
    /// [`Error::NotFound`] for an unknown job.
    async fn job_token(&self, job: JobId) -> Result<Option<TokenId>>;
    /// Records that `token` uploaded a module (once per uploader).
    async fn module_upload_record(
        &self,
        digest: &ModuleDigest,
        token: Option<TokenId>,
        now: Timestamp,
    ) -> Result<()>;
    /// Every module's uploaders.
    async fn module_uploads(&self) -> Result<Vec<ModuleUpload>>;
    /// One module's uploaders (none: uploaded before tokens existed).
    async fn module_uploaders(&self, digest: &ModuleDigest) -> Result<Vec<Option<TokenId>>>;
    /// Records the token a schedule puts its jobs with (a schedule with
    /// none puts them as the admin).
    async fn schedule_token_set(&self, schedule: ScheduleId, token: TokenId) -> Result<()>;
    /// The token a schedule puts its jobs with (`None`: the admin).
    async fn schedule_token(&self, schedule: ScheduleId) -> Result<Option<TokenId>>;
}

#[async_trait]
impl<B: SqlBackend> TokenStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn token_insert(&self, token: &Token, hash: &str) -> Result<Token> {
        insert(&mut self.writes(), token, hash).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn token_list(&self) -> Result<Vec<Token>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens ORDER BY name");
        let rows = self.reads().fetch_all(T, &sql, &[]).await?;
        rows.iter().map(token).collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn token_by_hash(&self, hash: &str) -> Result<Option<Token>> {
        static GET: Sql = Sql::new(|_| format!("SELECT {COLUMNS} FROM tokens WHERE hash = ?1"));
        let mut conn = self.reads();
        let sql = GET.text(conn.dialect());
        let row = conn.fetch_optional(T, sql, &[Arg::Text(hash)]).await?;
        row.as_ref().map(token).transpose()
    }

    #[instrument(level = "debug", skip_all)]
    async fn token_get(&self, id: TokenId) -> Result<Option<Token>> {
        static GET: Sql = Sql::new(|_| format!("SELECT {COLUMNS} FROM tokens WHERE id = ?1"));
        let mut conn = self.reads();
        let sql = GET.text(conn.dialect());
        let row = conn.fetch_optional(T, sql, &[Arg::Id(id.0)]).await?;
        row.as_ref().map(token).transpose()
    }

    #[instrument(level = "debug", skip_all)]
    async fn token_delete(&self, name: &str) -> Result<()> {
        let mut conn = self.writes();
        let sql = conn.dialect().render("DELETE FROM tokens WHERE name = ?1");
        match conn.execute(&sql, &[Arg::Text(name)]).await? {
            0 => Err(Error::not_found(format!("token `{name}`"))),
            _ => Ok(()),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_token(&self, job: JobId) -> Result<Option<TokenId>> {
        static GET: Sql = Sql::new(|_| "SELECT token FROM jobs WHERE id = ?1".into());
        let mut conn = self.reads();
        let sql = GET.text(conn.dialect());
        match conn.fetch_optional("jobs", sql, &[Arg::Id(job.0)]).await? {
            Some(row) => Ok(row.opt_id(0)?.map(TokenId)),
            None => Err(Error::not_found(format!("job {job}"))),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_upload_record(
        &self,
        digest: &ModuleDigest,
        token: Option<TokenId>,
        now: Timestamp,
    ) -> Result<()> {
        static RECORD: Sql = Sql::new(|d| {
            format!(
                "INSERT INTO module_uploads (digest, token, uploaded_at) \
                 SELECT ?1, ?2{uuid}, ?3 WHERE NOT EXISTS (SELECT 1 FROM module_uploads \
                   WHERE digest = ?1 AND token {same} ?2{uuid})",
                uuid = d.uuid,
                same = d.same,
            )
        });
        let mut conn = self.writes();
        let sql = RECORD.text(conn.dialect());
        let args = [
            Arg::Text(digest.as_str()),
            Arg::OptId(token.map(|t| t.0)),
            Arg::Int(ms(now)),
        ];
        match conn.execute(sql, &args).await {
            Err(Error::Database(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                Err(Error::not_found(format!("module {digest}")))
            }
            other => other.map(drop),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_uploads(&self) -> Result<Vec<ModuleUpload>> {
        let sql = "SELECT digest, token FROM module_uploads ORDER BY digest";
        let rows = self.reads().fetch_all("module_uploads", sql, &[]).await?;
        rows.iter()
            .map(|r| {
                Ok(ModuleUpload {
                    digest: digest("module_uploads", r.text(0)?)?,
                    token: r.opt_id(1)?.map(TokenId),
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_uploaders(&self, digest: &ModuleDigest) -> Result<Vec<Option<TokenId>>> {
        static GET: Sql = Sql::new(|_| "SELECT token FROM module_uploads WHERE digest = ?1".into());
        let mut conn = self.reads();
        let sql = GET.text(conn.dialect());
        let rows = conn
            .fetch_all("module_uploads", sql, &[Arg::Text(digest.as_str())])
            .await?;
        rows.iter().map(|r| Ok(r.opt_id(0)?.map(TokenId))).collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_token_set(&self, schedule: ScheduleId, token: TokenId) -> Result<()> {
        let mut conn = self.writes();
        let sql = conn.dialect().render(
            "INSERT INTO schedule_tokens (schedule, token) VALUES (?1, ?2) \
             ON CONFLICT (schedule) DO UPDATE SET token = excluded.token",
        );
        match conn
            .execute(&sql, &[Arg::Id(schedule.0), Arg::Id(token.0)])
            .await
        {
            Err(Error::Database(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                Err(Error::not_found(format!("schedule {schedule}")))
            }
            other => other.map(drop),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_token(&self, schedule: ScheduleId) -> Result<Option<TokenId>> {
        let mut conn = self.reads();
        let sql = conn
            .dialect()
            .render("SELECT token FROM schedule_tokens WHERE schedule = ?1");
        let row = conn
            .fetch_optional("schedule_tokens", &sql, &[Arg::Id(schedule.0)])
            .await?;
        row.map(|r| r.id(0).map(TokenId)).transpose()
    }
}

async fn insert<C: SqlConn + ?Sized>(conn: &mut C, t: &Token, hash: &str) -> Result<Token> {
    static INSERT: Sql = Sql::new(|d| {
        format!(
            "INSERT INTO tokens (id, name, hash, queues, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4{json}, ?5{json}, ?6) RETURNING {COLUMNS}",
            json = d.json
        )
    });
    let queues = serde_json::to_string(&t.queues).map_err(|e| corrupt(T, e))?;
    let scopes = serde_json::to_string(&t.scopes).map_err(|e| corrupt(T, e))?;
    let args = [
        Arg::Id(t.id.0),
        Arg::Text(&t.name),
        Arg::Text(hash),
        Arg::Json(&queues),
        Arg::Json(&scopes),
        Arg::Int(ms(t.created_at)),
    ];
    let sql = INSERT.text(conn.dialect());
    match conn.fetch_optional(T, sql, &args).await {
        Ok(Some(row)) => token(&row),
        Ok(None) => Err(corrupt(T, "the insert returned no row")),
        Err(Error::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Err(
            Error::Conflict(format!("a token named `{}` already exists", t.name)),
        ),
        Err(e) => Err(e),
    }
}

fn token(r: &SqlRow) -> Result<Token> {
    Ok(Token {
        id: TokenId(r.id(0)?),
        name: r.text(1)?,
        queues: r.json(2)?,
        scopes: r.json::<Vec<Scope>>(3)?,
        created_at: clock::from_millis(r.int(4)?),
    })
}
