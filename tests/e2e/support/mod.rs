//! The end-to-end test kit: real `wasync` processes on free ports with
//! temporary data directories, an HTTP client, the CLI, and waiting on
//! conditions with deadlines (never bare sleeps).
//!
//! Re-exported here, so tests name everything `crate::support::…`:
//! - `backend`: the store a test runs against, a fresh database each, and
//!   [`on_both_backends!`](crate::on_both_backends);
//! - `server`: `wasync` processes (serve, worker, scheduler), their
//!   signals and refused starts, and the CLI;
//! - `http`: the HTTP client of one server;
//! - `wait`: the deadline, waiting on conditions, and the machine lock
//!   that keeps load tests apart.

#![allow(dead_code)]

mod backend;
mod http;
mod server;
mod wait;

pub use self::backend::{Backend, Database, postgres_url};
pub use self::http::Http;
pub use self::server::{Refusal, Server, ServerOptions, WASYNC, refused, signal, stderr, stdout};
pub use self::wait::{DEADLINE, exclusive, shared, wait_until};
