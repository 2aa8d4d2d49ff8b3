//! The dispatcher's ping, this backend's own: one statement. Everything
//! else about dispatchers and their agents is written once in
//! `store/dispatchers.rs`.

use async_trait::async_trait;
use sqlx::Row as _;

use super::PgStore;
use super::row::{self, ms};
use crate::model::Process;
use crate::store::Result;
use crate::store::dispatchers::PingStatement;
use crate::store::identity::{self, DispatcherPingParams, Ping};

#[async_trait]
impl PingStatement for PgStore {
    /// Records a ping if the row still names the process; reactivates a
    /// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
    /// One statement: the row as it was, locked, and the write guarded by the
    /// process it names.
    async fn ping(&self, p: DispatcherPingParams) -> Result<Ping> {
        let current = sqlx::query(
            "WITH old AS (SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = $1 \
               FOR UPDATE), \
             w AS (UPDATE dispatchers AS d SET last_ping_at = $2, \
               activated_at = CASE WHEN old.rescued_at IS NULL THEN d.activated_at ELSE $2 END, \
               deactivated_at = CASE WHEN old.rescued_at IS NULL THEN d.deactivated_at ELSE NULL \
               END, rescued_at = NULL, rescued_by = NULL \
               FROM old WHERE d.id = $1 AND old.hostname = $3 AND old.pid = $4) \
             SELECT hostname, pid, rescued_at IS NOT NULL FROM old",
        )
        .bind(p.id.0)
        .bind(ms(p.now))
        .bind(&p.process.hostname)
        .bind(i64::from(p.process.pid))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| -> Result<(Process, bool)> {
            let process = Process {
                hostname: r.try_get(0)?,
                pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
            };
            Ok((process, r.try_get(2)?))
        })
        .transpose()?;
        identity::ping_verdict(current, &p)
    }
}
