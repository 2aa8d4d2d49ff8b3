//! End-to-end tests: each starts the real `wasync` binary on a free port
//! with a temporary data directory and talks to it over HTTP (and through
//! the CLI), with real example components.
//!
//! One test binary for all of them, so the example components and the
//! binary are built once.

mod support;

mod api;
mod bad_arguments;
mod batch;
mod broadcast;
mod browser;
mod cancel;
mod caps;
mod cli;
mod contract;
mod dashboard;
mod dashboard_batch;
mod failures;
mod faults;
mod guest_put_many;
mod identity;
mod limits;
mod metrics;
mod monitor;
mod operators;
mod partitions;
mod polyglot;
mod priorities;
mod queue;
mod runs;
mod sandbox;
mod schedules;
mod tokens;
mod unique;
mod unknown_functions;
mod usage;
mod workers;
