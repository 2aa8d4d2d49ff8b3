//! `modules`: components by digest, with an optional unique name.

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::PgStore;
use super::row::{corrupt, digest, from_json, json_text, ms, retrying};
use crate::clock;
use crate::model::{ModuleDigest, ModuleInfo};
use crate::store::{Error, ModuleInsertParams, Result};

const T: &str = "modules";
const COLUMNS: &str = "digest, name, size, exports, created_at";

fn info(row: &PgRow) -> Result<ModuleInfo> {
    Ok(ModuleInfo {
        digest: digest(T, row.try_get(0)?)?,
        name: row.try_get(1)?,
        size: u64::try_from(row.try_get::<i64, _>(2)?).map_err(|_| corrupt(T, "negative size"))?,
        exports: from_json(T, "exports", row.try_get(3)?)?,
        created_at: clock::from_millis(row.try_get(4)?),
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

/// Stores a module; a name given moves to it from any other module.
///
/// Uploads claiming the same name take turns: each first takes a
/// transaction-level advisory lock on the name. (Without it, the second of
/// two uploads at once would clear the name while the first still held it
/// uncommitted, then meet the first's committed name in its upsert: a
/// unique violation.)
pub(super) async fn insert(db: &PgStore, p: ModuleInsertParams) -> Result<ModuleInfo> {
    retrying(|| insert_once(db, &p)).await
}

async fn insert_once(db: &PgStore, p: &ModuleInsertParams) -> Result<ModuleInfo> {
    let mut tx = db.begin().await?;
    if let Some(name) = &p.name {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('wasync module name ' || $1, 0))",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE modules SET name = NULL WHERE name = $1 AND digest <> $2")
            .bind(name)
            .bind(p.digest.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let sql = format!(
        "INSERT INTO modules (digest, name, size, exports, created_at, bytes) \
         VALUES ($1, $2, $3, $4::json, $5, $6) \
         ON CONFLICT (digest) DO UPDATE SET name = coalesce(excluded.name, modules.name) \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(p.digest.as_str())
        .bind(&p.name)
        .bind(p.bytes.len() as i64)
        .bind(json_text(&p.exports))
        .bind(ms(p.now))
        .bind(&p.bytes)
        .fetch_one(&mut *tx)
        .await?;
    let module = info(&row)?;
    tx.commit().await?;
    Ok(module)
}

/// A module by digest or by name.
pub(super) async fn get(db: &PgStore, reference: &str) -> Result<ModuleInfo> {
    let column = if ModuleDigest::looks_like_digest(reference) {
        "digest"
    } else {
        "name"
    };
    let sql = format!("SELECT {COLUMNS} FROM modules WHERE {column} = $1");
    let row = sqlx::query(&sql)
        .bind(reference)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::not_found(what(reference)))?;
    info(&row)
}

/// A module's bytes.
pub(super) async fn bytes(db: &PgStore, digest: &ModuleDigest) -> Result<Vec<u8>> {
    sqlx::query_scalar("SELECT bytes FROM modules WHERE digest = $1")
        .bind(digest.as_str())
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::not_found(what(digest.as_str())))
}

/// Every module, oldest first.
pub(super) async fn list(db: &PgStore) -> Result<Vec<ModuleInfo>> {
    let sql = format!("SELECT {COLUMNS} FROM modules ORDER BY created_at, digest");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(info).collect()
}

/// Deletes a module no job references.
///
/// `jobs.module` has no foreign key (a put checks the module in its own
/// statement), so the delete first locks `jobs` against writes (`SHARE`:
/// reads go on; puts, claims and finishes wait until the delete commits),
/// then counts references, which therefore include every put committed
/// before it, and a put after it finds the module gone. Counting reads the
/// whole table (no index on `jobs.module`, which every put would pay for):
/// deleting a module is a rare administrative act.
pub(super) async fn delete(db: &PgStore, digest: &ModuleDigest) -> Result<()> {
    retrying(|| async {
        let mut tx = db.begin().await?;
        sqlx::query("LOCK TABLE jobs IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
        let used: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE module = $1")
            .bind(digest.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "module {digest} is used by {used} job(s); it can be deleted once they are gone"
            )));
        }
        let deleted = sqlx::query("DELETE FROM modules WHERE digest = $1")
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(what(digest.as_str())));
        }
        tx.commit().await?;
        Ok(())
    })
    .await
}
