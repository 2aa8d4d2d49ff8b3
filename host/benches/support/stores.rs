//! A store per backend for the benches that call the store directly: a
//! durable SQLite file (WAL, `synchronous=FULL`) in a temporary directory
//! ([`super::bench_dir`]), or a schema of its own on PostgreSQL, dropped
//! when the bench closes it; the bench module and a dispatcher in it;
//! plain jobs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasync::clock::from_millis;
use wasync::model::{DispatcherId, JobId, JobLimits, ModuleDigest, ModuleInfo, NewJob, Timestamp};
use wasync::store::postgres::PgStore;
use wasync::store::sqlite::SqliteStore;
use wasync::store::{DispatcherActivateParams, ModuleInsertParams, Store};

/// A fixed time `ms` milliseconds into the benches' day, so runs compare.
pub fn t(ms: i64) -> Timestamp {
    from_millis(1_700_000_000_000 + ms)
}

/// Where a bench's store lives, and what to remove at the end.
pub enum Place {
    /// A SQLite file in this directory (removed with it).
    Dir(tempfile::TempDir),
    /// A schema on the server at `url`.
    Schema { url: String, name: String },
}

/// Opens a fresh store: on PostgreSQL at `pg` when given, else on SQLite.
pub async fn open(pg: Option<&str>) -> (Place, Arc<dyn Store>) {
    match pg {
        None => {
            let dir = super::bench_dir();
            let store = SqliteStore::open(&dir.path().join("bench.db"))
                .await
                .expect("open store");
            (Place::Dir(dir), Arc::new(store))
        }
        Some(url) => {
            let name = super::fresh_schema();
            let store = PgStore::open_in_schema(url, &name)
                .await
                .expect("open store");
            let url = url.to_owned();
            (Place::Schema { url, name }, Arc::new(store))
        }
    }
}

/// Closes a store [`open`] gave, and removes its database.
pub async fn close(place: &Place, store: &dyn Store) {
    store.close().await;
    if let Place::Schema { url, name } = place {
        PgStore::drop_schema(url, name).await.expect("drop schema");
    }
}

/// Inserts the bench module (an empty component, named `bench`).
pub async fn bench_module(store: &dyn Store) -> ModuleInfo {
    let bytes = wat::parse_str("(component $bench)").expect("component");
    store
        .module_insert(ModuleInsertParams {
            digest: ModuleDigest::of(&bytes),
            name: Some("bench".to_owned()),
            bytes,
            exports: vec![],
            now: t(0),
        })
        .await
        .expect("module")
}

/// Activates a new dispatcher of this process (polling every second).
pub async fn dispatcher(store: &dyn Store) -> DispatcherId {
    let id = DispatcherId::new();
    store
        .dispatcher_activate(DispatcherActivateParams {
            id,
            process: wasync::dispatch::this_process(),
            poll_interval_ms: 1_000,
            now: t(0),
            death_interval: Duration::from_secs(60),
            proven_gone: None,
        })
        .await
        .expect("dispatcher");
    id
}

/// A plain job of the default queue, due at `at`, to insert.
pub fn job(
    module: &ModuleDigest,
    module_name: Option<String>,
    function: &str,
    args: Value,
    at: Timestamp,
) -> NewJob {
    NewJob {
        id: JobId::new(),
        queue: String::new(),
        module: module.clone(),
        module_name,
        function: function.to_owned(),
        args,
        limits: JobLimits::default(),
        begin_after: at,
        scheduled: false,
        begin_by_ms: None,
        quota_names: Vec::new(),
        expired: false,
        parent: None,
        token: None,
        created_at: at,
        schedule: None,
        retry: None,
        priority: 0,
        unique: None,
    }
}

/// Lets the operating system write out what a bulk load left dirty
/// (hundreds of MB for millions of jobs): otherwise the first fsyncs after
/// it wait for that writeback, which is the load's cost, not the timed
/// operations'. `which` names the store that would pay, if it cannot.
pub fn sync(which: &str) {
    let synced = std::process::Command::new("sync").status();
    if !synced.is_ok_and(|s| s.success()) {
        println!("  (could not run `sync`: {which} may pay for its load's writeback)");
    }
}
