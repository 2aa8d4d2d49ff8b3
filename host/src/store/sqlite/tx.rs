//! The transaction the store's multi-step operations run in. The logic
//! of those operations is written once in `store/` (`settle.rs`,
//! `failures.rs`, …), generic over statement traits; this backend
//! implements each trait on [`SqliteTx`] beside its statements
//! (`SettleTx` in `callbacks.rs`, `FailureTx` in `failures.rs`).

use sqlx::{Sqlite, Transaction};

/// Statements inside one SQLite write transaction (`BEGIN IMMEDIATE`:
/// SQLite has one writer at a time, so the statements of one operation
/// never interleave with another process's).
pub(super) struct SqliteTx<'a>(pub(super) &'a mut Transaction<'static, Sqlite>);
