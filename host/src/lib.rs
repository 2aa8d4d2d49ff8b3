//! wasync: a durable job queue whose jobs are sandboxed WebAssembly
//! components.
//!
//! The layers, top to bottom (see `docs/architecture.md`):
//!
//! - [`api`]: the HTTP API (axum).
//! - [`cli`]: the `wasync` command: client commands, `serve`, `worker`,
//!   `scheduler`, `run`.
//! - [`service`]: the queue's operations and validation; the layer every
//!   caller above goes through.
//! - [`dispatch`]: dispatchers and agents: claiming, running and
//!   completing jobs.
//! - [`schedule`]: the scheduler: schedules' due occurrences become jobs.
//! - [`runtime`]: the wasmtime sandbox.
//! - [`store`]: the database, behind one trait; all SQL lives there.
//! - [`model`]: the domain types every layer shares, and the job state
//!   machine ([`model::state`]).
//!
//! Beside them: [`app`] (the composition root: a process's parts, built
//! once and handed to the service, the dispatcher and the scheduler),
//! [`config`] (the server's settings), [`clock`] (injected time) and
//! [`data_dir`] (one process per data directory: its lock).

#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod data_dir;
pub mod dispatch;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod sandbox_config;
pub mod schedule;
pub mod service;
pub mod store;
pub mod wire;
