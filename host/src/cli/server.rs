//! What the server commands (`serve`, `worker`, `scheduler`) share: where
//! their settings and database are, how their configuration is resolved,
//! their logging, and the signals that stop them.

use std::path::PathBuf;

use clap::Args;

use crate::config::{ConfigLayer, ServerConfig};

/// The options every server command takes: its config file, data
/// directory, instance and database.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A TOML file of settings (the same names as the flags, with `_`; a
    /// command ignores those that mean nothing for it).
    #[arg(long, env = "WASYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, lock, dispatcher id, compiled
    /// cache); one process at a time holds it.
    #[arg(long, env = "WASYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run as instance NAME of the data directory: an identity (lock and
    /// dispatcher id) of its own in DATA_DIR/instances/NAME, sharing its
    /// database and compiled cache. For several processes on one machine.
    #[arg(long, env = "WASYNC_INSTANCE")]
    instance: Option<String>,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long, env = "WASYNC_DATABASE", hide_env_values = true)]
    database: Option<String>,
}

impl ServerArgs {
    /// The configuration: defaults, then the config file, then the
    /// environment and flags (these options, and the command's own
    /// `settings`).
    pub fn resolve(self, settings: ConfigLayer) -> anyhow::Result<ServerConfig> {
        let settings = ConfigLayer {
            data_dir: self.data_dir,
            instance: self.instance,
            database: self.database,
            ..settings
        };
        let mut config = ServerConfig::default();
        if let Some(path) = self.config {
            config = config.apply(ConfigLayer::from_file(&path)?);
        }
        let config = config.apply(settings);
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
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
