//! `wasync serve`: the HTTP API, a dispatcher and a scheduler in one
//! process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use tokio::net::TcpListener;

use super::identity;
use crate::api::{self, AppState};
use crate::clock;
use crate::config::{ConfigLayer, ServerConfig};
use crate::data_dir::DataDirLock;
use crate::dispatch::{Dispatcher, DispatcherConfig};
use crate::model::{AgentSpec, DEFAULT_QUEUE, MAIN_AGENT_NAME};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::schedule::{Scheduler, SchedulerConfig};
use crate::service::{Retention, Service, ServiceConfig};
use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// Arguments of `wasync serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of settings (the same names as the flags, with `_`).
    #[arg(long, env = "WASYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Settings; each overrides the config file.
    #[command(flatten)]
    settings: ConfigLayer,
}

impl ServeArgs {
    /// The config file and the settings given on the command line.
    pub fn into_parts(self) -> (Option<PathBuf>, ConfigLayer) {
        (self.config, self.settings)
    }
}

/// Resolves the configuration from defaults, file, environment and flags.
pub fn resolve_config(
    config_file: Option<PathBuf>,
    settings: ConfigLayer,
) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::default();
    if let Some(path) = config_file {
        config = config.apply(ConfigLayer::from_file(&path)?);
    }
    let config = config.apply(settings);
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
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

/// Waits for Ctrl-C or SIGTERM. The listeners are registered when this
/// is called, not when the future is first polled: a signal that arrives
/// in between is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = next(interrupt.as_mut()) => {}
                _ = next(terminate.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The next delivery of `signal`; never, without a listener.
#[cfg(unix)]
async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// A second Ctrl-C or SIGTERM, after the first started a graceful stop:
/// stop at once (the jobs still running are handed back without waiting
/// for the grace period). Listening from the call: a second signal sent
/// while the dispatcher's loops wind down is heard.
pub fn second_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let signal = shutdown_signal();
    async move {
        signal.await;
        tracing::warn!("second stop signal");
    }
}

/// Sets up logging from `WASYNC_LOG` (or `RUST_LOG`), default `info`.
pub fn init_logging() {
    let filter = std::env::var("WASYNC_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn,cranelift=warn,wasmtime=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The settings of the dispatcher the configuration asks for.
pub fn dispatcher_config(config: &ServerConfig) -> anyhow::Result<DispatcherConfig> {
    let mut dispatcher_config = DispatcherConfig::new(identity::dispatcher_id(config)?);
    dispatcher_config.poll_interval = config.poll_interval;
    dispatcher_config.shutdown_grace = config.shutdown_grace;
    dispatcher_config.ping_interval = config.ping_interval;
    dispatcher_config.death_interval = config.death_interval;
    let mut main = AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME);
    main.size = config.main_agent_size;
    dispatcher_config.main_agent = Some(main);
    Ok(dispatcher_config)
}

/// Starts the dispatcher the configuration asks for, in the process that
/// holds `lock` (see [`identity::start_dispatcher`]).
pub async fn start_dispatcher(
    service: &Service,
    config: &ServerConfig,
    lock: &DataDirLock,
) -> anyhow::Result<Dispatcher> {
    identity::start_dispatcher(service, dispatcher_config(config)?, config, lock).await
}

/// Starts the scheduler the configuration asks for.
pub fn start_scheduler(service: &Service, config: &ServerConfig) -> Scheduler {
    let scheduler_config = SchedulerConfig {
        interval: config.scheduler_interval,
        ..SchedulerConfig::default()
    };
    Scheduler::start(service.clone(), scheduler_config)
}

/// Opens the store and the runtime the configuration names, and the
/// service over them (with the data directory created).
pub async fn open_service(config: &ServerConfig) -> anyhow::Result<Service> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let store = open_store(config).await?;
    let runtime = open_runtime(config)?;
    Ok(Service::new(
        store,
        runtime,
        clock::from_env(),
        ServiceConfig::default(),
    ))
}

/// Runs the server until Ctrl-C or SIGTERM (or until its dispatcher id is
/// taken over: then it exits with an error).
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (config_file, settings) = args.into_parts();
    let config = resolve_config(config_file, settings)?;
    // What only one process may have comes first, before anything is
    // written to the database: a start that cannot complete changes
    // nothing there.
    let lock = identity::lock_own_dir(&config, "serve")?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let service = open_service(&config).await?;
    let dispatcher = if config.dispatcher {
        Some(start_dispatcher(&service, &config, &lock).await?)
    } else {
        None
    };
    let scheduler = config.scheduler.then(|| start_scheduler(&service, &config));
    let retention = Retention::start(service.clone(), config.retention());
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("wasync listening on http://{address}");
    tracing::info!(%address, backend = service.store().backend(), "serving");
    let state = AppState {
        service: service.clone(),
        token: config.token.clone(),
        upload_limit: config.upload_limit as usize,
    };
    let (stopped, why) = tokio::sync::oneshot::channel();
    let until = identity::until_stopped(dispatcher.as_ref());
    api::serve(listener, state, async move {
        let _ = stopped.send(until.await);
    })
    .await?;
    let taken_over = why.await.ok().flatten();
    // Listening before saying so: a second signal sent at once is heard.
    let hurry = second_signal();
    tracing::info!("shutting down");
    if let Some(scheduler) = scheduler {
        scheduler.stop().await;
    }
    if let Some(retention) = retention {
        retention.stop().await;
    }
    if let Some(dispatcher) = dispatcher {
        let id = dispatcher.id();
        dispatcher.stop_or(hurry).await;
        if let Some(by) = taken_over {
            return Err(identity::taken_over(id, &by));
        }
    }
    drop(lock);
    Ok(ExitCode::SUCCESS)
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
