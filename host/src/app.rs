//! The composition root: what a server process is made of, built once.
//!
//! `serve`, `worker` and `scheduler` (and the tests and benches that run
//! a dispatcher) open an [`App`] and start from it the parts they run.
//! The store, the sandbox runtime, the clock, this process's wake-ups and
//! the store's health are built here and handed to each part that needs
//! them: the [`Service`] (the queue's operations), the [`Dispatcher`] and
//! the [`Scheduler`]. None of those reaches into another for them.

use std::sync::Arc;

use anyhow::{Context, bail};

use crate::clock::{self, Clock};
use crate::config::ServerConfig;
use crate::dispatch::{DispatchParts, Dispatcher, DispatcherConfig};
use crate::model::{AgentSpec, DEFAULT_QUEUE, DispatcherId, MAIN_AGENT_NAME};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::schedule::{Scheduler, SchedulerConfig, SchedulerParts};
use crate::service::{self, Events, Retention, Service, ServiceConfig, StoreHealth};
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// The parts of one process, and the service over them.
#[derive(Debug, Clone)]
pub struct App {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The sandbox jobs run in (and uploads are checked by).
    pub runtime: Runtime,
    /// The clock every timestamp comes from.
    pub clock: Arc<dyn Clock>,
    /// This process's wake-ups: puts, completions, schedule changes.
    pub events: Arc<Events>,
    /// Whether the store takes writes, as this process sees it.
    pub health: Arc<StoreHealth>,
    /// The queue's operations, over the parts above.
    pub service: Service,
}

impl App {
    /// Assembles the parts around `store`, `runtime` and `clock`. Starts
    /// the service's tasks, so it must be called inside a tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Runtime,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> App {
        let events = Arc::new(Events::new());
        let health = Arc::new(StoreHealth::new(clock.clone()));
        let service = Service::new(
            store.clone(),
            runtime.clone(),
            clock.clone(),
            events.clone(),
            health.clone(),
            config,
        );
        App {
            store,
            runtime,
            clock,
            events,
            health,
            service,
        }
    }

    /// Opens the store and the runtime `config` names (creating the data
    /// directory) and assembles the parts around them.
    pub async fn open(config: &ServerConfig) -> anyhow::Result<App> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let store = open_store(config).await?;
        let runtime = open_runtime(config)?;
        let service_config = ServiceConfig {
            death_interval: config.death_interval,
            ..ServiceConfig::default()
        };
        Ok(App::new(store, runtime, clock::from_env(), service_config))
    }

    /// The store's backend (`sqlite` or `postgres`), for the log.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// What a dispatcher of this process is built from.
    pub fn dispatch_parts(&self) -> DispatchParts {
        DispatchParts {
            store: self.store.clone(),
            runtime: self.runtime.clone(),
            clock: self.clock.clone(),
            events: self.events.clone(),
            health: self.health.clone(),
            contexts: Arc::new(self.service.clone()),
            put_claims: self.service.put_claims(),
        }
    }

    /// Starts a dispatcher (see [`Dispatcher::start`]).
    pub async fn start_dispatcher(&self, config: DispatcherConfig) -> service::Result<Dispatcher> {
        Dispatcher::start(self.dispatch_parts(), config).await
    }

    /// What a scheduler of this process is built from.
    pub fn scheduler_parts(&self) -> SchedulerParts {
        SchedulerParts {
            store: self.store.clone(),
            clock: self.clock.clone(),
            events: self.events.clone(),
            health: self.health.clone(),
            puts: Arc::new(self.service.clone()),
        }
    }

    /// Starts a scheduler (see [`Scheduler::start`]).
    pub fn start_scheduler(&self, config: SchedulerConfig) -> Scheduler {
        Scheduler::start(self.scheduler_parts(), config)
    }

    /// Starts retention as `config` asks (none when it keeps every job).
    pub fn start_retention(&self, config: &ServerConfig) -> Option<Retention> {
        Retention::start(self.service.clone(), config.retention())
    }
}

/// The settings of the dispatcher `config` asks for, as dispatcher `id`.
pub fn dispatcher_config(config: &ServerConfig, id: DispatcherId) -> DispatcherConfig {
    let mut dispatcher_config = DispatcherConfig::new(id);
    dispatcher_config.poll_interval = config.poll_interval;
    dispatcher_config.shutdown_grace = config.shutdown_grace;
    dispatcher_config.ping_interval = config.ping_interval;
    dispatcher_config.death_interval = config.death_interval;
    let mut main = AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME);
    main.size = config.main_agent_size;
    dispatcher_config.main_agent = Some(main);
    dispatcher_config
}

/// The settings of the scheduler `config` asks for.
pub fn scheduler_config(config: &ServerConfig) -> SchedulerConfig {
    SchedulerConfig {
        interval: config.scheduler_interval,
        ..SchedulerConfig::default()
    }
}

/// Opens the store the configuration names: SQLite in the data directory
/// by default, `sqlite:PATH`, or `postgres://…` (optionally
/// `?schema=NAME` to keep wasync's tables in a schema of their own).
pub async fn open_store(config: &ServerConfig) -> anyhow::Result<Arc<dyn Store>> {
    match config.database.as_deref() {
        None => {
            let path = config.data_dir.join("wasync.db");
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let store = SqliteStore::open(std::path::Path::new(path))
                .await
                .with_context(|| format!("cannot open the SQLite database {path}"))?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let (url, schema) = split_schema(url);
            let shown = crate::config::redact_url(&url);
            let store = match schema {
                Some(schema) => PgStore::open_in_schema(&url, &schema).await,
                None => PgStore::open(&url).await,
            }
            .with_context(|| format!("cannot open the PostgreSQL database {shown}"))?;
            Ok(Arc::new(store))
        }
        Some(other) => bail!(
            "unsupported database URL `{}`: use sqlite:PATH or postgres://USER@HOST/DB (or no --database for SQLite in the data directory)",
            crate::config::redact_url(other)
        ),
    }
}

/// Takes wasync's own `schema=NAME` query parameter out of a PostgreSQL URL.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_owned());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

/// Builds the sandbox runtime, with its compiled cache in the data directory.
pub fn open_runtime(config: &ServerConfig) -> anyhow::Result<Runtime> {
    let runtime_config = config.sandbox.apply_to(RuntimeConfig {
        cache_dir: Some(config.data_dir.join("cache")),
        default_timeout: config.job_time_limit,
        default_fuel: config.job_fuel_limit,
        default_memory_bytes: config.job_memory_limit,
        put_cap: config.job_put_cap,
        ..RuntimeConfig::default()
    });
    Runtime::new(runtime_config).context("cannot start the WebAssembly runtime")
}

#[cfg(test)]
mod tests {
    use super::split_schema;

    #[test]
    fn the_schema_parameter_is_wasyncs_own() {
        assert_eq!(
            split_schema("postgres://u@h/db?schema=jobs&sslmode=disable"),
            (
                "postgres://u@h/db?sslmode=disable".to_owned(),
                Some("jobs".to_owned())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db?schema=jobs"),
            ("postgres://u@h/db".to_owned(), Some("jobs".to_owned()))
        );
        assert_eq!(
            split_schema("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), None)
        );
    }
}
