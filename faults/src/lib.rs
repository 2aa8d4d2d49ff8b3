//! Database faults for wasync's tests (issue 20): what an operator meets
//! when the database fails, made on purpose and undone by a drop guard.
//!
//! - [`SmallDisk`]: a small tmpfs to put a SQLite database on, filled to
//!   the last byte and given space back.
//! - [`PrivatePostgres`]: a PostgreSQL cluster of the test's own, on its
//!   own port, that the test may stop and restart through `pg_ctl` (never
//!   the shared cluster other tests use).
//! - [`Proxy`]: a TCP proxy in front of a server that drops every
//!   connection and refuses new ones on demand, as a restarting server
//!   does.
//!
//! Each constructor answers `Err(reason)` where this machine cannot do it
//! (no permission to mount, no PostgreSQL binaries): the test prints the
//! reason and skips.

#![deny(missing_docs)]

mod disk;
mod postgres;
mod proxy;

pub use disk::SmallDisk;
pub use postgres::PrivatePostgres;
pub use proxy::Proxy;

/// Why a fault cannot be made on this machine.
pub type Unsupported = String;
