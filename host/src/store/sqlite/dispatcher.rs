//! The dispatcher's ping, this backend's own: one `BEGIN IMMEDIATE`
//! transaction reading the row and writing the ping. Everything else about
//! dispatchers and their agents is written once in `store/dispatchers.rs`.

use async_trait::async_trait;
use sqlx::Row as _;

use super::SqliteStore;
use super::row::{self, ms};
use crate::model::Process;
use crate::store::Result;
use crate::store::dispatchers::PingStatement;
use crate::store::identity::{self, DispatcherPingParams, Ping};

#[async_trait]
impl PingStatement for SqliteStore {
    /// Records a ping if the row still names the process; reactivates a
    /// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
    async fn ping(&self, p: DispatcherPingParams) -> Result<Ping> {
        let mut tx = self.begin().await?;
        let current =
            sqlx::query("SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = ?1")
                .bind(p.id.0)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| -> Result<(Process, bool)> {
                    let process = Process {
                        hostname: r.try_get(0)?,
                        pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
                    };
                    Ok((process, r.try_get::<Option<i64>, _>(2)?.is_some()))
                })
                .transpose()?;
        let verdict = identity::ping_verdict(current, &p)?;
        match verdict {
            Ping::TakenOver { .. } => return Ok(verdict),
            Ping::Reactivated => sqlx::query(
                "UPDATE dispatchers SET last_ping_at = ?2, activated_at = ?2, \
                 deactivated_at = NULL, rescued_at = NULL, rescued_by = NULL WHERE id = ?1",
            ),
            Ping::Alive => sqlx::query("UPDATE dispatchers SET last_ping_at = ?2 WHERE id = ?1"),
        }
        .bind(p.id.0)
        .bind(ms(p.now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(verdict)
    }
}
