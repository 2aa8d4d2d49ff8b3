//! What the benches share, written once. Each bench includes it with
//! `#[path = "support/mod.rs"] mod support;` and uses the part it needs
//! (so a part one bench leaves unused is no warning there):
//!
//! - [`stores`]: a store per backend (a SQLite file, or a PostgreSQL
//!   schema of its own dropped at the end), the bench module and a
//!   dispatcher in it, plain jobs;
//! - [`process`]: `wasync serve` and `wasync worker` processes, and the
//!   HTTP calls the benches make to them;
//! - [`app`]: the service and a dispatcher in this process, a component
//!   uploaded;
//! - [`quiet`]: a job context for guests run straight in the sandbox;
//! - [`stats`]: medians, percentiles, and how times print.
#![allow(dead_code)]

pub mod app;
pub mod process;
pub mod quiet;
pub mod stats;
pub mod stores;

use std::str::FromStr;

/// The PostgreSQL server benches may use (`WASYNC_TEST_PG`), if set.
pub fn postgres_url() -> Option<String> {
    std::env::var("WASYNC_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The bench's arguments that name parts to run (not `--` options, which
/// `cargo bench` passes too).
pub fn named_parts() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}

/// The environment variable `name` parsed, or `default` (unset or not a
/// value).
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A temporary directory for a bench's database: under `WASYNC_BENCH_DIR`
/// if set (put it on the disk you want to measure, not on a tmpfs), the
/// default temporary directory otherwise.
pub fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WASYNC_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory")
}

/// A schema name of its own, for a store on PostgreSQL.
pub fn fresh_schema() -> String {
    format!("wasync_bench_{}", uuid::Uuid::now_v7().simple())
}

/// What `--database` takes for `schema` on the server at `base`.
pub fn schema_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}schema={schema}")
}
