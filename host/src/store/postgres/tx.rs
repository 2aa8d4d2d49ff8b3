//! The transaction the store's multi-step operations run in. The logic
//! of those operations is written once in `store/` (`settle.rs`,
//! `failures.rs`, …), generic over statement traits; this backend
//! implements each trait on [`PgTx`] beside its statements (`SettleTx` in
//! `callbacks.rs`, `FailureTx` in `failures.rs`).

use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::PgStore;

/// Statements inside one PostgreSQL transaction. Every job it sees get its
/// result is announced (`completed`), with the next cascade.
pub(super) struct PgTx<'a> {
    pub(super) conn: &'a mut PgConnection,
    pub(super) db: &'a PgStore,
    pub(super) announce: Vec<Uuid>,
}

impl<'a> PgTx<'a> {
    /// Settles inside `tx`; `announce`: jobs completed by the caller, to
    /// announce with the first cascade.
    pub(super) fn new(
        tx: &'a mut Transaction<'static, Postgres>,
        db: &'a PgStore,
        announce: Vec<Uuid>,
    ) -> Self {
        Self::on_connection(tx, db, announce)
    }

    /// Settles on `conn`, a connection inside the caller's transaction.
    pub(super) fn on_connection(
        conn: &'a mut PgConnection,
        db: &'a PgStore,
        announce: Vec<Uuid>,
    ) -> Self {
        PgTx { conn, db, announce }
    }
}
