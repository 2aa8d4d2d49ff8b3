//! `modules`: components by digest, with an optional unique name.
//! Written once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::sql::{corrupt, digest, ms};
use super::statement::{Arg, SqlBackend, SqlConn, SqlRow, SqlTx, retrying};
use super::{Error, Result};
use crate::clock;
use crate::model::{ModuleDigest, ModuleInfo, Timestamp};

/// Stores a module.
#[derive(Debug, Clone)]
pub struct ModuleInsertParams {
    /// Digest of `bytes`.
    pub digest: ModuleDigest,
    /// A unique name to give it. If another module has the name, the name
    /// moves to this one (like a tag): jobs already put keep the digest
    /// they resolved to.
    pub name: Option<String>,
    /// The component.
    pub bytes: Vec<u8>,
    /// Its exports, as shown by `ModuleInfo::exports`.
    pub exports: Vec<String>,
    /// Now.
    pub now: Timestamp,
}

/// Modules: components by digest, with an optional unique name.
#[async_trait]
pub trait ModuleStore: Send + Sync + std::fmt::Debug {
    /// Stores a module (idempotent by digest) and returns it.
    async fn module_insert(&self, params: ModuleInsertParams) -> Result<ModuleInfo>;
    /// A module by digest (`sha256:...`) or by name.
    async fn module_get(&self, reference: &str) -> Result<ModuleInfo>;
    /// A module's bytes.
    async fn module_bytes(&self, digest: &ModuleDigest) -> Result<Vec<u8>>;
    /// All modules, oldest first.
    async fn module_list(&self) -> Result<Vec<ModuleInfo>>;
    /// Deletes a module. [`Error::Conflict`] while any job references it.
    async fn module_delete(&self, digest: &ModuleDigest) -> Result<()>;
}

const T: &str = "modules";
const COLUMNS: &str = "digest, name, size, exports, created_at";

fn info(row: &SqlRow) -> Result<ModuleInfo> {
    Ok(ModuleInfo {
        digest: digest(T, row.text(0)?)?,
        name: row.opt_text(1)?,
        size: u64::try_from(row.int(2)?).map_err(|_| corrupt(T, "negative size"))?,
        exports: row.json(3)?,
        created_at: clock::from_millis(row.int(4)?),
    })
}

/// "module `name`" or "module sha256:…", for messages.
fn what(reference: &str) -> String {
    if ModuleDigest::looks_like_digest(reference) {
        format!("module {reference}")
    } else {
        format!("module `{reference}`")
    }
}

/// Stores a module inside the caller's transaction; a name given moves to
/// it from any other module.
///
/// Uploads claiming the same name take turns where the backend needs it
/// ([`Dialect::lock_module_name`](super::statement::Dialect)): without it,
/// the second of two uploads at once would clear the name while the first
/// still held it uncommitted, then meet the first's committed name in its
/// upsert, a unique violation.
async fn insert<C: SqlConn + ?Sized>(tx: &mut C, p: &ModuleInsertParams) -> Result<ModuleInfo> {
    let d = tx.dialect();
    if let Some(name) = &p.name {
        if let Some(lock) = d.lock_module_name {
            tx.execute(&d.render(lock), &[Arg::Text(name)]).await?;
        }
        let sql = d.render("UPDATE modules SET name = NULL WHERE name = ?1 AND digest <> ?2");
        tx.execute(&sql, &[Arg::Text(name), Arg::Text(p.digest.as_str())])
            .await?;
    }
    let sql = d.render(&format!(
        "INSERT INTO modules (digest, name, size, exports, created_at, bytes) \
         VALUES (?1, ?2, ?3, ?4{json}, ?5, ?6) \
         ON CONFLICT (digest) DO UPDATE SET name = coalesce(excluded.name, modules.name) \
         RETURNING {COLUMNS}",
        json = d.json
    ));
    let exports = serde_json::to_string(&p.exports).map_err(|e| corrupt(T, e))?;
    let args = [
        Arg::Text(p.digest.as_str()),
        Arg::OptText(p.name.as_deref()),
        Arg::Int(p.bytes.len() as i64),
        Arg::Json(&exports),
        Arg::Int(ms(p.now)),
        Arg::Bytes(&p.bytes),
    ];
    let row = tx.fetch_optional(T, &sql, &args).await?;
    info(&row.ok_or_else(|| corrupt(T, "the upsert returned no row"))?)
}

/// Deletes a module no job references, inside the caller's transaction.
///
/// `jobs.module` has no foreign key (a put checks the module in its own
/// statement), so the delete first keeps writes to `jobs` out where the
/// backend needs it ([`Dialect::lock_jobs_table`](super::statement::Dialect)):
/// the count then includes every put committed before it, and a put after
/// it finds the module gone. Counting reads the whole table (no index on
/// `jobs.module`, which every put would pay for): deleting a module is a
/// rare administrative act.
async fn delete<C: SqlConn + ?Sized>(tx: &mut C, digest: &ModuleDigest) -> Result<()> {
    let d = tx.dialect();
    if let Some(lock) = d.lock_jobs_table {
        tx.execute(lock, &[]).await?;
    }
    let sql = d.render("SELECT count(*) FROM jobs WHERE module = ?1");
    let arg = [Arg::Text(digest.as_str())];
    let used = match tx.fetch_optional("jobs", &sql, &arg).await? {
        Some(row) => row.int(0)?,
        None => 0,
    };
    if used > 0 {
        return Err(Error::Conflict(format!(
            "module {digest} is used by {used} job(s); it can be deleted once they are gone"
        )));
    }
    let sql = d.render("DELETE FROM modules WHERE digest = ?1");
    if tx.execute(&sql, &arg).await? == 0 {
        return Err(Error::not_found(what(digest.as_str())));
    }
    Ok(())
}

#[async_trait]
impl<B: SqlBackend> ModuleStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn module_insert(&self, p: ModuleInsertParams) -> Result<ModuleInfo> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            let module = insert(&mut tx.conn(), &p).await?;
            tx.commit().await?;
            Ok(module)
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_get(&self, reference: &str) -> Result<ModuleInfo> {
        let column = if ModuleDigest::looks_like_digest(reference) {
            "digest"
        } else {
            "name"
        };
        let mut conn = self.reads();
        let sql = conn.dialect().render(&format!(
            "SELECT {COLUMNS} FROM modules WHERE {column} = ?1"
        ));
        let row = conn
            .fetch_optional(T, &sql, &[Arg::Text(reference)])
            .await?;
        info(&row.ok_or_else(|| Error::not_found(what(reference)))?)
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_bytes(&self, digest: &ModuleDigest) -> Result<Vec<u8>> {
        let mut conn = self.reads();
        let sql = conn
            .dialect()
            .render("SELECT bytes FROM modules WHERE digest = ?1");
        let row = conn
            .fetch_optional(T, &sql, &[Arg::Text(digest.as_str())])
            .await?;
        row.ok_or_else(|| Error::not_found(what(digest.as_str())))?
            .bytes(0)
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_list(&self) -> Result<Vec<ModuleInfo>> {
        let sql = format!("SELECT {COLUMNS} FROM modules ORDER BY created_at, digest");
        let rows = self.reads().fetch_all(T, &sql, &[]).await?;
        rows.iter().map(info).collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_delete(&self, digest: &ModuleDigest) -> Result<()> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            delete(&mut tx.conn(), digest).await?;
            tx.commit().await
        })
        .await
    }
}
