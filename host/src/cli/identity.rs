//! Who a server process is, for `serve`, `worker` and `scheduler`: the
//! lock on its own directory (one process per data directory, or per
//! instance of one), its dispatcher id, and what the operator is told when
//! another process already is that one (`docs/identity.md`).

use std::future::Future;

use anyhow::Context;

use super::server::shutdown_signal;
use crate::app::{self, App};
use crate::clock::{Clock, SystemClock};
use crate::config::{INSTANCES_DIR, ServerConfig};
use crate::data_dir::{DataDirLock, LockError, LockHolder};
use crate::dispatch::{Dispatcher, identity};
use crate::model::{DispatcherId, Process};
use crate::service;

/// Takes the lock on this process's own directory (see
/// [`ServerConfig::own_dir`]) for `command`, before anything else; refuses,
/// saying what to do instead, if another process holds it.
pub fn lock_own_dir(config: &ServerConfig, command: &str) -> anyhow::Result<DataDirLock> {
    let holder = LockHolder::this_process(command, SystemClock.now());
    match DataDirLock::acquire(&config.own_dir(), &holder) {
        Ok(lock) => {
            if let Some(previous) = lock.previous() {
                tracing::debug!(%previous, "took the data directory's lock");
            }
            Ok(lock)
        }
        Err(held @ LockError::Held { .. }) => {
            let advice = match &config.instance {
                Some(name) => format!(
                    "Another process runs as instance `{name}` of {}: give this one another \
                     `--instance` name.",
                    config.data_dir.display()
                ),
                None => format!(
                    "Each wasync process needs a data directory of its own. To run another \
                     process on this machine next to it, start it with `--instance NAME` (an \
                     identity of its own in {}, sharing the database) or with its own \
                     `--data-dir` (and `--database` naming the shared database).",
                    config.data_dir.join(INSTANCES_DIR).join("NAME").display()
                ),
            };
            Err(anyhow::anyhow!(
                "{held}.\n{advice} If that process is stuck, stop it first."
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// The dispatcher id this process runs as: `--dispatcher-id`, or the one
/// kept in its own directory (created on first start).
pub fn dispatcher_id(config: &ServerConfig) -> anyhow::Result<DispatcherId> {
    match config.dispatcher_id {
        Some(id) => Ok(id),
        None => identity::load_or_create(&config.own_dir()).with_context(|| {
            format!(
                "cannot keep the dispatcher id in {}",
                config.own_dir().display()
            )
        }),
    }
}

/// Starts the dispatcher `config` asks for, in `app`, for the process that
/// holds `lock`: an id its previous holder left behind (killed) is taken
/// over at once; an id a live process holds is refused, saying what to do
/// instead.
pub async fn start_dispatcher(
    app: &App,
    config: &ServerConfig,
    lock: &DataDirLock,
) -> anyhow::Result<Dispatcher> {
    let id = dispatcher_id(config)?;
    let mut dispatcher_config = app::dispatcher_config(config, id);
    dispatcher_config.proven_gone = lock.proven_gone(&dispatcher_config.process.hostname);
    match app.start_dispatcher(dispatcher_config).await {
        Ok(dispatcher) => Ok(dispatcher),
        Err(service::Error::Conflict(held)) => {
            let source = match config.dispatcher_id {
                Some(_) => "given by --dispatcher-id".to_owned(),
                None => format!(
                    "kept in {}",
                    config
                        .own_dir()
                        .join(identity::DISPATCHER_ID_FILE)
                        .display()
                ),
            };
            Err(anyhow::anyhow!(
                "{held}\nThis process's dispatcher id {id} is {source}. To run another process \
                 next to that one, start it with `--instance NAME` or a `--data-dir` of its own \
                 (each keeps a dispatcher id of its own), and no `--dispatcher-id` another \
                 process uses."
            ))
        }
        Err(other) => Err(other).context("cannot start the dispatcher"),
    }
}

/// Waits for Ctrl-C or SIGTERM, or for `dispatcher`'s id to be taken over
/// (then gives the process that took it). `'static`: it does not borrow
/// the dispatcher.
pub fn until_stopped(
    dispatcher: Option<&Dispatcher>,
) -> impl Future<Output = Option<Process>> + Send + 'static {
    let taken_over = dispatcher.map(Dispatcher::taken_over);
    async move {
        let taken_over = async move {
            match taken_over {
                Some(taken_over) => taken_over.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown_signal() => None,
            by = taken_over => Some(by),
        }
    }
}

/// The error a process ends with when its dispatcher id was taken over.
pub fn taken_over(id: DispatcherId, by: &Process) -> anyhow::Error {
    anyhow::anyhow!(
        "dispatcher {id} was taken over by another process ({by}) while this one was silent for \
         longer than the death interval (paused, or cut off from the database); this process \
         stopped working under it and exits. Its running jobs had been handed back."
    )
}
