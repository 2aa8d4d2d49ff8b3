//! Queue lookups the backend's own statements share: whether a queue
//! exists, and the queue order. The queue operations are written once in
//! `store/queue.rs`.

use super::PgStore;
pub(super) use crate::store::queue::{QUEUE_ORDER, QUEUE_ORDER_REVERSED};
pub(super) use crate::store::sql::queue_what as what;
use crate::store::{Error, Result};

/// `Ok` if the queue exists, else [`Error::NotFound`].
pub(super) async fn exists(db: &PgStore, name: &str) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM queues WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| Error::not_found(what(name)))
}
