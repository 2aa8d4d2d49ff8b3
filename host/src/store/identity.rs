//! One live process per dispatcher id, written once for every
//! backend.
//!
//! A dispatcher id belongs to one process at a time: the one its row names
//! (host and pid). Activation reads the row, locked, and decides here
//! ([`vacancy`]) whether this process may take the id: only if nobody holds
//! it, its holder is this very process, its holder stopped, its holder is
//! dead (silent for longer than the death interval), or this process's own
//! data-directory lock proves its holder gone. Otherwise it refuses,
//! naming the holder, and writes nothing. Only when it takes an id over
//! does it hand back the jobs the id still holds, in the same transaction
//! ([`activate`]): two processes starting with one id at once cannot both
//! win, and a refused start changes nothing.
//!
//! A ping names its process too, and writes only if the row still names
//! it ([`ping_verdict`]): a process that was silent long enough to be
//! taken over learns it ([`Ping::TakenOver`]) instead of claiming again
//! under an id that is no longer its own.
//!
//! The backends give the statements ([`ActivateTx`], and each backend's
//! ping).

use std::time::Duration;

use async_trait::async_trait;

use super::failures::{self, FailureTx};
use super::{Error, HandBackParams, HandBackReport, Result};
use crate::model::{DispatcherId, DispatcherInfo, Process, Timestamp};

/// Activates a dispatcher id for a process: registers it, or takes it over
/// if its holder is gone (see the module documentation).
#[derive(Debug, Clone)]
pub struct DispatcherActivateParams {
    /// The dispatcher id.
    pub id: DispatcherId,
    /// The process activating it.
    pub process: Process,
    /// Its poll interval in ms.
    pub poll_interval_ms: u64,
    /// Now.
    pub now: Timestamp,
    /// A holder whose last ping is older than this is dead: its id may be
    /// taken over.
    pub death_interval: Duration,
    /// The process this one's data-directory lock proves gone: the lock's
    /// previous holder on this host (the lock was free, so it has exited).
    /// An id it still holds may be taken over at once, without waiting for
    /// the death interval.
    pub proven_gone: Option<Process>,
}

/// Why a dispatcher id could be taken over from the process that held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vacancy {
    /// Its holder is this very process (a dispatcher started again).
    SameProcess,
    /// Its holder stopped (deactivated).
    Stopped,
    /// Its holder has not pinged for longer than the death interval.
    Dead {
        /// Its last ping.
        last_ping_at: Timestamp,
    },
    /// This process's data-directory lock proves its holder gone.
    ProvenGone,
}

/// The process a dispatcher id was taken over from, and why it could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// The process that held the id.
    pub previous: Process,
    /// Why it could be taken over.
    pub vacancy: Vacancy,
}

/// What [`DispatcherStore::dispatcher_activate`](super::DispatcherStore::dispatcher_activate)
/// did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// The dispatcher as now stored.
    pub info: DispatcherInfo,
    /// `None` for an id seen for the first time; otherwise whom it was
    /// taken over from.
    pub takeover: Option<Takeover>,
    /// The jobs the id still held, handed back when it was taken over.
    pub handed_back: HandBackReport,
}

/// Whether `p.process` may take the id whose row is `holding`, and why;
/// else the refusal, naming the live holder and how to proceed.
pub fn vacancy(
    holding: &DispatcherInfo,
    p: &DispatcherActivateParams,
) -> std::result::Result<Vacancy, String> {
    let holder = holding.process();
    let death = chrono::TimeDelta::from_std(p.death_interval).unwrap_or(chrono::TimeDelta::MAX);
    let alive_until = holding
        .last_ping_at
        .checked_add_signed(death)
        .unwrap_or(Timestamp::MAX_UTC);
    if holder == p.process {
        Ok(Vacancy::SameProcess)
    } else if p.proven_gone.as_ref() == Some(&holder) {
        Ok(Vacancy::ProvenGone)
    } else if alive_until < p.now {
        Ok(Vacancy::Dead {
            last_ping_at: holding.last_ping_at,
        })
    } else if holding.deactivated_at.is_some() {
        Ok(Vacancy::Stopped)
    } else {
        let ago = (p.now - holding.last_ping_at).to_std().unwrap_or_default();
        Err(format!(
            "dispatcher {id} is held by a live process: {holder}, which activated it at \
             {activated} and last pinged at {ping} ({ago} ago). Two processes must never \
             share a dispatcher id: give this one an id of its own (its own data \
             directory). If that process is gone, the id is free once it has been silent \
             for the death interval ({death}), at {alive_until}.",
            id = p.id,
            activated = holding.activated_at,
            ping = holding.last_ping_at,
            ago = humantime::format_duration(round_to_ms(ago)),
            death = humantime::format_duration(p.death_interval),
        ))
    }
}

fn round_to_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

impl Takeover {
    /// The message of the `interrupted` failure of each running job the
    /// takeover hands back.
    pub fn interruption(&self, id: DispatcherId, by: &Process) -> String {
        let previous = &self.previous;
        match &self.vacancy {
            Vacancy::SameProcess => {
                format!("its dispatcher {id} was started again by the process running it ({by})")
            }
            Vacancy::Stopped => format!(
                "its dispatcher {id} restarted: its previous process ({previous}) stopped \
                 without handing it back"
            ),
            Vacancy::Dead { last_ping_at } => format!(
                "its dispatcher {id} was taken over by {by}: its previous process ({previous}) \
                 had not pinged since {last_ping_at}"
            ),
            Vacancy::ProvenGone => format!(
                "its dispatcher {id} restarted while it ran: its previous process ({previous}) \
                 ended without stopping"
            ),
        }
    }
}

/// The statements activation needs, inside one transaction (each backend
/// implements it over its own); a takeover hands jobs back with the
/// [`FailureTx`] statements.
#[async_trait]
pub(crate) trait ActivateTx: FailureTx {
    /// The id's row, locked until the transaction ends; `None` for an id
    /// never seen.
    async fn holding(&mut self, id: DispatcherId) -> Result<Option<DispatcherInfo>>;
    /// Registers a new id for `p.process`; `None` when another process
    /// registered it meanwhile (it is then read again).
    async fn register(&mut self, p: &DispatcherActivateParams) -> Result<Option<DispatcherInfo>>;
    /// Makes a known id `p.process`'s: active, pinged now, no longer
    /// stopped or rescued.
    async fn reactivate(&mut self, p: &DispatcherActivateParams) -> Result<DispatcherInfo>;
}

/// Activates `p.id` for `p.process` inside `tx` (see the module
/// documentation). The caller commits.
pub(crate) async fn activate(
    tx: &mut impl ActivateTx,
    p: &DispatcherActivateParams,
) -> Result<Activation> {
    // A second look is needed only when another process registered the id
    // between the read and the insert (PostgreSQL; SQLite's one writer
    // rules it out).
    for _ in 0..2 {
        let Some(holding) = tx.holding(p.id).await? else {
            if let Some(info) = tx.register(p).await? {
                return Ok(Activation {
                    info,
                    takeover: None,
                    handed_back: HandBackReport::default(),
                });
            }
            continue;
        };
        let takeover = Takeover {
            vacancy: vacancy(&holding, p).map_err(Error::Conflict)?,
            previous: holding.process(),
        };
        let info = tx.reactivate(p).await?;
        let handed_back = failures::hand_back(
            tx,
            &HandBackParams {
                dispatcher: p.id,
                job: None,
                reason: takeover.interruption(p.id, &p.process),
                now: p.now,
            },
        )
        .await?;
        return Ok(Activation {
            info,
            takeover: Some(takeover),
            handed_back,
        });
    }
    Err(Error::Conflict(format!(
        "dispatcher {} was registered by another process while this one activated it",
        p.id
    )))
}

/// Records that a dispatcher's process is alive.
#[derive(Debug, Clone)]
pub struct DispatcherPingParams {
    /// The dispatcher id.
    pub id: DispatcherId,
    /// The process pinging: the ping is written only if the row still
    /// names it.
    pub process: Process,
    /// Now.
    pub now: Timestamp,
}

/// What a ping found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// The id is this process's: ping recorded.
    Alive,
    /// The id is this process's, but it had been declared dead and its
    /// jobs handed back: reactivated.
    Reactivated,
    /// Another process took the id over while this one was silent: nothing
    /// written. This process must stop working under the id.
    TakenOver {
        /// The process that holds it now.
        by: Process,
    },
}

/// What a ping does, from the row as it was (`None`: the id is unknown):
/// the process it names, and whether it had been rescued.
pub fn ping_verdict(current: Option<(Process, bool)>, p: &DispatcherPingParams) -> Result<Ping> {
    match current {
        None => Err(Error::not_found(format!("dispatcher {}", p.id))),
        Some((holder, _)) if holder != p.process => Ok(Ping::TakenOver { by: holder }),
        Some((_, true)) => Ok(Ping::Reactivated),
        Some((_, false)) => Ok(Ping::Alive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;

    fn process(host: &str, pid: u32) -> Process {
        Process {
            hostname: host.to_owned(),
            pid,
        }
    }

    fn holding(last_ping_ms: i64, deactivated: bool) -> DispatcherInfo {
        DispatcherInfo {
            id: DispatcherId::new(),
            hostname: "a".to_owned(),
            pid: 1,
            poll_interval_ms: 5_000,
            activated_at: from_millis(0),
            last_ping_at: from_millis(last_ping_ms),
            deactivated_at: deactivated.then(|| from_millis(last_ping_ms)),
        }
    }

    fn params(by: Process, now_ms: i64, proven_gone: Option<Process>) -> DispatcherActivateParams {
        DispatcherActivateParams {
            id: DispatcherId::new(),
            process: by,
            poll_interval_ms: 5_000,
            now: from_millis(now_ms),
            death_interval: Duration::from_secs(60),
            proven_gone,
        }
    }

    #[test]
    fn a_live_holder_keeps_its_id_whatever_differs() {
        for other in [process("a", 2), process("b", 1)] {
            let refusal = vacancy(&holding(10_000, false), &params(other, 20_000, None))
                .expect_err("refused");
            assert!(refusal.contains("pid 1 on host a"), "{refusal}");
            assert!(refusal.contains("10s ago"), "{refusal}");
            assert!(refusal.contains("1970-01-01 00:01:10 UTC"), "{refusal}");
        }
    }

    #[test]
    fn the_death_interval_is_the_boundary() {
        let held = holding(10_000, false);
        assert!(vacancy(&held, &params(process("b", 2), 70_000, None)).is_err());
        assert_eq!(
            vacancy(&held, &params(process("b", 2), 70_001, None)),
            Ok(Vacancy::Dead {
                last_ping_at: from_millis(10_000)
            })
        );
    }

    #[test]
    fn the_same_process_a_stopped_holder_or_a_proven_gone_one_give_the_id_up() {
        let p = |gone| params(process("b", 2), 20_000, gone);
        assert_eq!(
            vacancy(
                &holding(10_000, false),
                &params(process("a", 1), 20_000, None)
            ),
            Ok(Vacancy::SameProcess)
        );
        assert_eq!(
            vacancy(&holding(10_000, true), &p(None)),
            Ok(Vacancy::Stopped)
        );
        assert_eq!(
            vacancy(&holding(10_000, false), &p(Some(process("a", 1)))),
            Ok(Vacancy::ProvenGone)
        );
        // The lock proves only its own previous holder gone.
        assert!(vacancy(&holding(10_000, false), &p(Some(process("a", 3)))).is_err());
    }

    #[test]
    fn a_ping_writes_only_for_the_process_the_row_names() {
        let p = DispatcherPingParams {
            id: DispatcherId::new(),
            process: process("a", 1),
            now: from_millis(0),
        };
        assert_eq!(
            ping_verdict(Some((process("a", 1), false)), &p).unwrap(),
            Ping::Alive
        );
        assert_eq!(
            ping_verdict(Some((process("a", 1), true)), &p).unwrap(),
            Ping::Reactivated
        );
        assert_eq!(
            ping_verdict(Some((process("b", 1), true)), &p).unwrap(),
            Ping::TakenOver {
                by: process("b", 1)
            }
        );
        assert!(matches!(
            ping_verdict(None, &p),
            Err(Error::NotFound { .. })
        ));
    }
}
