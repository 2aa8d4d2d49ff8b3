//! Wake-ups through `LISTEN/NOTIFY`.
//!
//! Every write that another process may want to hear of calls
//! `pg_notify(<channel>, <payload>)` in its own statement (or in the last
//! statement of its transaction), so PostgreSQL delivers the notification
//! when, and only if, the write commits. One channel per schema
//! ([`channel_for`]): installations in different schemas of one database
//! do not wake each other.
//!
//! Payloads are small JSON objects, one key saying what happened:
//!
//! | payload | event |
//! |---|---|
//! | `{"put": ["", "video"]}` | [`StoreEvent::JobsPut`] |
//! | `{"completed": ["0192…", …]}` | [`StoreEvent::JobsCompleted`] (at most [`IDS_PER_PAYLOAD`] ids each) |
//! | `{"agents": "<dispatcher id>"}` | [`StoreEvent::AgentsChanged`] |
//!
//! Completions are announced only when someone can use them (a client
//! waits for the job, it held quota slots, or it was cancelled or expired:
//! see `TELL` in `finish.rs`): a transaction that notifies takes a
//! database-wide lock at commit, held through its WAL flush.
//!
//! PostgreSQL refuses payloads of 8000 bytes or more, so lists are split:
//! ids are fixed-size (a 256-job finish sends two notifications), queue
//! names are packed up to [`PAYLOAD_BUDGET`] bytes a payload. A queue whose
//! name alone does not fit (thousands of bytes) is not announced; its work
//! is found by polling.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::postgres::{PgListener, PgPool};

use super::row::json_text;
use crate::model::{DispatcherId, JobId};
use crate::store::{Error, Result, StoreEvent, StoreListener};

/// Completed job ids per notification: 150 ids of 40 bytes (quoted, with
/// `json_agg`'s separator) keep a payload near 6 KB, under PostgreSQL's
/// 8000-byte limit.
pub(super) const IDS_PER_PAYLOAD: usize = 150;

/// The most bytes of queue names packed into one put notification.
pub(super) const PAYLOAD_BUDGET: usize = 7_000;

/// The longest channel name PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_CHANNEL: usize = 63;

/// A payload as sent: externally tagged, so `{"put": [...]}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    Put(Vec<String>),
    Completed(Vec<JobId>),
    Agents(DispatcherId),
}

impl From<Wire> for StoreEvent {
    fn from(wire: Wire) -> Self {
        match wire {
            Wire::Put(queues) => StoreEvent::JobsPut { queues },
            Wire::Completed(ids) => StoreEvent::JobsCompleted { ids },
            Wire::Agents(dispatcher) => StoreEvent::AgentsChanged { dispatcher },
        }
    }
}

/// The channel of the installation in `schema`: `wasync.<schema>`, or, for
/// a schema name too long for a channel, `wasync.` and a hash of it.
pub(super) fn channel_for(schema: &str) -> String {
    let channel = format!("wasync.{schema}");
    if channel.len() <= MAX_CHANNEL {
        channel
    } else {
        let hash = hex::encode(Sha256::digest(schema.as_bytes()));
        format!("wasync.{}", &hash[..MAX_CHANNEL - "wasync.".len()])
    }
}

/// The payloads announcing puts in `queues` (each listed once, sorted).
pub(super) fn put_payloads<'a>(queues: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut queues: Vec<&str> = queues.into_iter().collect();
    queues.sort_unstable();
    queues.dedup();
    let mut payloads = Vec::new();
    let mut batch: Vec<String> = Vec::new();
    let mut size = 0;
    for queue in queues {
        // Quotes, a comma, and JSON escapes at worst doubling the name.
        let cost = queue.len() * 2 + 3;
        if cost > PAYLOAD_BUDGET {
            tracing::debug!(len = queue.len(), "queue name too long to announce");
            continue;
        }
        if size + cost > PAYLOAD_BUDGET {
            payloads.push(json_text(&Wire::Put(std::mem::take(&mut batch))));
            size = 0;
        }
        batch.push(queue.to_owned());
        size += cost;
    }
    if !batch.is_empty() {
        payloads.push(json_text(&Wire::Put(batch)));
    }
    payloads
}

/// The event a payload announces; `None` for one this version does not
/// know (another version, or anyone else's `NOTIFY` on the channel).
fn event(payload: &str) -> Option<StoreEvent> {
    match serde_json::from_str::<Wire>(payload) {
        Ok(wire) => Some(wire.into()),
        Err(e) => {
            tracing::warn!(payload, error = %e, "ignoring an unknown notification");
            None
        }
    }
}

/// A [`StoreListener`] on its own connection (from the store's listener
/// pool). After a dropped connection, the next `recv` listens again on a
/// new one.
pub(super) struct PgStoreListener {
    pool: PgPool,
    channel: String,
    listener: Option<PgListener>,
}

impl PgStoreListener {
    /// Listens on `channel`: from when this returns, every notification
    /// committed is received.
    pub(super) async fn start(pool: PgPool, channel: String) -> Result<Self> {
        let mut this = PgStoreListener {
            pool,
            channel,
            listener: None,
        };
        this.listener().await?;
        Ok(this)
    }

    async fn listener(&mut self) -> Result<&mut PgListener> {
        if self.listener.is_none() {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(&self.channel).await?;
            self.listener = Some(listener);
        }
        Ok(self.listener.as_mut().expect("set above"))
    }
}

#[async_trait]
impl StoreListener for PgStoreListener {
    async fn recv(&mut self) -> Result<StoreEvent> {
        loop {
            let received = self.listener().await?.try_recv().await;
            match received {
                Ok(Some(notification)) => {
                    if let Some(event) = event(notification.payload()) {
                        return Ok(event);
                    }
                }
                Ok(None) => {
                    // sqlx reconnected and listens again, but what was sent
                    // in between is lost: say so, once.
                    return Err(lost());
                }
                Err(e) => {
                    // Start over on a new connection at the next call.
                    self.listener = None;
                    return Err(e.into());
                }
            }
        }
    }
}

/// The error `recv` gives when the connection dropped.
fn lost() -> Error {
    Error::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the connection listening for notifications dropped; notifications sent meanwhile \
         are lost",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_into_events() {
        let payloads = put_payloads(["video", "", "video"]);
        assert_eq!(payloads, [r#"{"put":["","video"]}"#]);
        assert_eq!(
            event(&payloads[0]),
            Some(StoreEvent::JobsPut {
                queues: vec![String::new(), "video".to_owned()]
            })
        );
        let id = JobId::new();
        // As json_build_object writes them.
        let sql = format!(r#"{{"completed" : ["{id}"]}}"#);
        assert_eq!(
            event(&sql),
            Some(StoreEvent::JobsCompleted { ids: vec![id] })
        );
        let d = DispatcherId::new();
        assert_eq!(
            event(&format!(r#"{{"agents" : "{d}"}}"#)),
            Some(StoreEvent::AgentsChanged { dispatcher: d })
        );
        assert_eq!(event("hello"), None);
        assert_eq!(event(r#"{"other": 1}"#), None);
    }

    #[test]
    fn put_payloads_stay_under_the_limit() {
        let names: Vec<String> = (0..100).map(|i| format!("{i:0>200}")).collect();
        let payloads = put_payloads(names.iter().map(String::as_str));
        assert!(payloads.len() > 1);
        let mut announced = Vec::new();
        for p in &payloads {
            assert!(p.len() < 8000, "{} bytes", p.len());
            match event(p) {
                Some(StoreEvent::JobsPut { queues }) => announced.extend(queues),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(announced, names);
        let huge = "q".repeat(PAYLOAD_BUDGET);
        assert!(put_payloads([huge.as_str()]).is_empty());
        assert_eq!(
            put_payloads(["\"\"\"", huge.as_str()]),
            [r#"{"put":["\"\"\""]}"#]
        );
    }

    #[test]
    fn channels_fit_postgres_names() {
        assert_eq!(channel_for("public"), "wasync.public");
        let long = channel_for(&"s".repeat(63));
        assert_eq!(long.len(), MAX_CHANNEL);
        assert_ne!(long, channel_for(&"t".repeat(63)));
    }
}
