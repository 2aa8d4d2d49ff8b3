//! The conformance suite: every backend passes the same cases (River's
//! `riverdrivertest`, wasmtime's `foreach_p2!`).
//!
//! Each case is written once, as `async fn case<H: Harness>(h: H)`, in the
//! module of what it covers. [`foreach_case!`] lists every case, and
//! [`backends!`] expands the list into one `#[tokio::test]` per case per
//! backend: `store::conformance::sqlite::put_lists_in_fifo_order` and so on.
//! Each test gets a fresh database (SQLite: a new file in a temporary
//! directory, with WAL; PostgreSQL: a new schema on the server named by
//! `WASYNC_TEST_PG`, dropped when the test ends; a backend that is not
//! configured, such as PostgreSQL without `WASYNC_TEST_PG`, skips its
//! tests).
//!
//! ```text
//! cargo test -p wasync store::                       # SQLite; PostgreSQL skipped
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo test -p wasync store::
//! ```
//!
//! Adding a backend: implement [`Harness`] for it and add it to the
//! `backends!` line at the bottom.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::Store;
use super::postgres::PgStore;
use super::postgres::testing::{self, TestSchema};
use super::sqlite::SqliteStore;
use crate::model::JobId;

mod activity;
mod broadcast;
mod callbacks;
mod catalog;
mod claim;
mod counts;
mod dashboard;
mod deadlines;
mod durability;
mod failures;
mod finish;
mod identity;
pub(crate) mod kit;
mod notify;
mod operators;
mod partitions;
mod priority;
mod put_claims;
mod queue;
mod quota;
mod rates;
mod schedules;
mod tokens;
mod unique;

use activity::*;
use broadcast::*;
use callbacks::*;
use catalog::*;
use claim::*;
use counts::*;
use dashboard::*;
use deadlines::*;
use durability::*;
use failures::*;
use finish::*;
use identity::*;
use notify::*;
use operators::*;
use partitions::*;
use priority::*;
use put_claims::*;
use queue::*;
use quota::*;
use rates::*;
use schedules::*;
use tokens::*;
use unique::*;

/// One backend under test: a fresh database per test.
pub(crate) trait Harness: Sized + Send + 'static {
    /// A fresh, empty database (migrated), or `None` when this backend is
    /// not configured here (its tests are then skipped).
    async fn fresh() -> Option<Self>;
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
    /// Another store on the same database, with its own connections: what
    /// a second process would have.
    async fn another(&self) -> Arc<dyn Store>;
    /// Closes the store and opens the same database again, as a restarted
    /// process would.
    async fn reopen(&mut self);
    /// True when the backend announces writes to listeners
    /// ([`Store::listen`] returns one).
    const NOTIFIES: bool;
    /// Holds row locks on `ids` in a transaction of its own (as a claim in
    /// progress on another machine does) until [`RowLocks::release`];
    /// `None` for a backend without row locks.
    async fn lock_jobs(&self, ids: &[JobId]) -> Option<RowLocks>;
}

/// Row locks held by another transaction (see [`Harness::lock_jobs`]).
pub(crate) struct RowLocks {
    release: oneshot::Sender<()>,
    held: tokio::task::JoinHandle<()>,
}

impl RowLocks {
    /// Ends the transaction, releasing the locks.
    pub(crate) async fn release(self) {
        let _ = self.release.send(());
        self.held.await.expect("the lock holder ends cleanly");
    }
}

/// SQLite: a new file in a temporary directory (not `:memory:`: WAL and
/// several connections need a real file).
pub(crate) struct SqliteHarness {
    dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
}

impl SqliteHarness {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("wasync.db")
    }
}

impl Harness for SqliteHarness {
    async fn fresh() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("wasync.db"))
            .await
            .expect("open a fresh SQLite store");
        Some(SqliteHarness {
            dir,
            store: Arc::new(store),
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path()).await.expect("open again"))
    }

    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Arc::new(SqliteStore::open(&self.path()).await.expect("reopen"));
    }

    const NOTIFIES: bool = false;

    async fn lock_jobs(&self, _ids: &[JobId]) -> Option<RowLocks> {
        None
    }
}

/// PostgreSQL: a fresh schema on the server named by `WASYNC_TEST_PG`
/// (`None`, so skipped, when it is unset). The schema is dropped when the
/// harness is (and schemas left by a killed run, an hour later).
pub(crate) struct PgHarness {
    store: Arc<PgStore>,
    // Dropped last: the stores' connections are idle by then.
    schema: TestSchema,
}

impl PgHarness {
    /// Waits until `n` connections listen for this schema's
    /// notifications (each process's relay listens once it has
    /// connected, a moment after it starts): a test whose processes only
    /// hear of each other's work by notification starts then.
    pub(crate) async fn listeners(&self, n: i64) {
        let url = testing::url().expect("a PostgreSQL test server");
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        let pattern = format!("LISTEN%{}%", self.schema.name);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let listening: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1")
                    .bind(&pattern)
                    .fetch_one(&pool)
                    .await
                    .expect("pg_stat_activity");
            if listening >= n {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{listening} of {n} processes listen after 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        pool.close().await;
    }
}

impl Harness for PgHarness {
    async fn fresh() -> Option<Self> {
        let schema = TestSchema::new(&testing::url()?);
        let store = Arc::new(schema.open().await);
        Some(PgHarness { store, schema })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another(&self) -> Arc<dyn Store> {
        Arc::new(self.schema.open().await)
    }

    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Arc::new(self.schema.open().await);
    }

    const NOTIFIES: bool = true;

    async fn lock_jobs(&self, ids: &[JobId]) -> Option<RowLocks> {
        let tx = self
            .store
            .lock_jobs(ids, "FOR UPDATE")
            .await
            .expect("lock jobs");
        let (release, released) = oneshot::channel();
        let held = tokio::spawn(async move {
            let _ = released.await;
            tx.rollback().await.expect("roll back");
        });
        Some(RowLocks { release, held })
    }
}

/// Calls `$m!($harness, case)` for every case of the suite.
macro_rules! foreach_case {
    ($m:ident, $h:ty) => {
        // queues and queue order
        $m!($h, default_queue_always_exists);
        $m!($h, queues_create_list_delete);
        $m!($h, queue_caps_set_and_cleared);
        $m!($h, queue_delete_refused_while_holding_jobs);
        $m!($h, put_lists_in_fifo_order);
        $m!($h, pull_first_then_put_back_at_the_end);
        $m!($h, pull_by_index_and_from_the_end);
        $m!($h, remove_then_put_back_at_the_end);
        $m!($h, claimed_job_cannot_be_pulled_or_removed);
        $m!($h, put_back_rules);
        // claims in a put's commit
        $m!($h, a_put_claims_in_its_commit_the_oldest_due_jobs_first);
        $m!($h, a_put_claims_nothing_apart_paused_or_when_it_fails);
        // priorities
        $m!($h, higher_priority_due_jobs_are_claimed_first);
        $m!($h, priority_changes_while_pending_reorder_the_queue);
        $m!($h, quota_claims_follow_priority);
        $m!($h, quota_claims_follow_priority_past_the_first_page);
        $m!($h, linked_jobs_keep_their_priority);
        // broadcasts
        $m!(
            $h,
            broadcasts_pin_one_copy_per_live_dispatcher_with_an_agent
        );
        $m!(
            $h,
            broadcasts_pinned_copies_skip_other_dispatchers_in_quota_queues
        );
        $m!(
            $h,
            broadcasts_complete_with_the_map_of_their_copies_outcomes
        );
        $m!(
            $h,
            broadcasts_with_no_live_dispatcher_complete_at_once_empty
        );
        $m!(
            $h,
            a_dead_dispatchers_copy_is_recorded_and_the_broadcast_completes
        );
        $m!($h, a_stopping_dispatcher_records_the_copies_it_did_not_run);
        $m!(
            $h,
            a_copy_pinned_to_a_dispatcher_gone_meanwhile_is_still_recorded
        );
        $m!($h, copies_finishing_at_once_in_two_processes_gather_once);
        // unique jobs
        $m!($h, unique_puts_insert_one_job_per_key_and_queue);
        $m!($h, keys_at_their_limits_block_only_their_duplicates);
        $m!(
            $h,
            a_job_expired_at_put_meets_the_holder_only_if_completed_is_a_state
        );
        $m!(
            $h,
            a_unique_key_stops_blocking_once_its_job_leaves_its_states
        );
        $m!($h, a_job_put_back_over_its_held_key_is_a_conflict);
        $m!(
            $h,
            a_change_of_args_derives_the_key_again_and_a_held_one_is_refused
        );
        $m!($h, two_stores_racing_the_same_key_insert_one_job);
        $m!($h, named_jobs_keep_their_policy);
        $m!($h, future_begin_after_waits_until_due);
        $m!($h, scheduled_jobs_go_first_on_ties);
        $m!($h, past_begin_after_joins_the_end_of_the_fifo);
        $m!($h, insert_is_all_or_nothing);
        $m!($h, large_batches_keep_their_order);
        $m!($h, jobs_get_and_list);
        // claims and starts
        $m!($h, claim_respects_limit_and_queue_order);
        $m!($h, claim_applies_module_and_function_filters);
        $m!($h, concurrent_claimers_never_share_a_job);
        $m!($h, two_stores_on_one_database_never_share_a_job);
        $m!($h, many_stores_drain_a_large_queue_past_locked_jobs);
        $m!($h, start_counts_attempts);
        $m!($h, claim_can_start_at_once);
        $m!($h, unstarted_jobs_go_back_uncounted);
        // finishes
        $m!($h, finish_records_values_failures_and_output);
        $m!($h, finish_writes_the_runs_it_carries);
        $m!($h, finish_drops_outcomes_of_jobs_no_longer_ours);
        $m!($h, await_pending_job_then_complete_with_its_result);
        $m!($h, await_completed_job_completes_at_once);
        $m!($h, await_self_missing_or_cycle_fails);
        $m!($h, await_chain_of_three_cascades);
        $m!($h, nul_characters_round_trip);
        // catalog
        $m!($h, modules_by_digest_and_name);
        $m!($h, module_delete_refused_while_referenced);
        $m!($h, annotations_set_get_list);
        $m!($h, dispatchers_activate_ping_deactivate);
        $m!($h, agents_upsert_list_delete);
        $m!($h, room_elsewhere_is_another_live_agent_below_its_size);
        // one live process per dispatcher id
        $m!($h, a_live_holder_keeps_its_dispatcher_id);
        $m!($h, a_dead_holders_id_is_taken_over_with_its_jobs);
        $m!($h, a_proven_gone_stopped_or_same_holder_gives_the_id_up);
        $m!($h, two_processes_activating_one_new_id_at_once_one_wins);
        // notifications
        $m!($h, puts_are_announced_on_commit);
        $m!($h, completions_are_announced_to_whoever_can_use_them);
        $m!($h, agent_changes_are_announced);
        // quotas
        $m!($h, quotas_create_list_resize_delete);
        $m!($h, quota_names_round_trip);
        $m!($h, a_full_quota_holds_its_jobs_back_but_not_others);
        $m!($h, a_quota_of_two_fills_in_one_batch_and_no_further);
        $m!($h, a_job_naming_several_quotas_needs_room_in_each);
        $m!($h, shrinking_a_full_quota_leaves_running_jobs_alone);
        $m!($h, a_removed_quota_is_ignored);
        $m!($h, concurrent_claimers_never_exceed_a_quota);
        // partitioned quotas
        $m!($h, a_jobs_key_is_stored_apart_from_its_quota_names);
        $m!($h, a_partitioned_quota_holds_each_key_to_its_size);
        $m!($h, a_keyed_job_needs_room_in_its_plain_quotas_too);
        $m!($h, a_partitioned_quota_with_jobs_stays);
        $m!($h, concurrent_claimers_never_exceed_a_key);
        $m!(
            $h,
            batches_over_the_same_keys_in_opposite_orders_do_not_deadlock
        );
        // rate limits
        $m!($h, a_queue_rate_holds_starts_to_its_window);
        $m!($h, a_keys_rate_is_its_own);
        $m!($h, concurrent_claimers_keep_a_rate);
        // deadlines, changes, preferences
        $m!($h, jobs_past_their_deadline_expire_and_never_run);
        $m!($h, an_expired_job_completes_the_jobs_awaiting_it);
        $m!($h, a_put_past_its_deadline_is_stored_completed);
        $m!($h, next_due_gives_the_next_begin_after_and_deadline);
        $m!($h, only_jobs_no_dispatcher_holds_can_be_changed);
        $m!($h, preferred_jobs_are_claimed_first);
        // durability
        $m!($h, everything_survives_a_restart);
        // schedules
        $m!($h, schedules_create_get_list_update_delete);
        $m!($h, take_locks_until_retry_time);
        $m!($h, failed_puts_keep_the_lock_and_updates_release_it);
        $m!($h, paused_schedules_are_never_due);
        $m!($h, callbacks_fire_on_finish_with_the_outcome);
        $m!(
            $h,
            a_callback_of_the_other_branch_passes_the_outcome_through
        );
        $m!($h, callbacks_fire_when_an_await_resolves_or_a_job_expires);
        $m!($h, a_callback_added_to_a_completed_job_runs_at_once);
        $m!($h, aborted_and_cancelled_jobs_run_their_failure_callbacks);
        $m!($h, serial_composites_run_parts_in_turn_then_the_postprocess);
        $m!($h, parallel_composites_take_parts_before_and_while_they_run);
        $m!(
            $h,
            a_callback_of_a_part_adds_parts_before_the_composite_moves_on
        );
        $m!($h, held_jobs_are_put_once_their_arguments_are_in);
        $m!($h, one_job_per_schedule_occurrence);
        $m!($h, occurrence_jobs_keep_quotas_and_deadlines);
        $m!($h, concurrent_takers_take_each_occurrence_once);
        // failures: retries, attempts, hand back, rescue
        $m!($h, a_failed_run_is_retried_by_its_policy_with_backoff);
        $m!($h, policies_come_from_the_job_or_its_queue);
        $m!($h, handing_back_goes_by_state_and_policy);
        $m!($h, interruptions_beyond_the_policy_abort_the_job);
        $m!(
            $h,
            exactly_one_of_three_racing_rescuers_handles_a_dead_dispatcher
        );
        $m!(
            $h,
            a_dispatcher_wrongly_declared_dead_is_reactivated_and_loses_its_run
        );
        $m!($h, held_jobs_are_listed_and_handed_back_one_at_a_time);
        // what operators do: cancel, pauses, names, removal, queries
        $m!($h, cancelled_jobs_never_run);
        $m!($h, cancelling_an_awaited_job_completes_its_waiters);
        $m!($h, paused_queues_and_dispatchers_claim_nothing);
        $m!($h, named_jobs_set_get_list_delete);
        $m!($h, remove_finished_counts_per_status);
        $m!($h, retention_keeps_by_age_and_count);
        $m!($h, job_queries_filter_and_count);
        $m!($h, jobs_are_found_by_creation_time);
        $m!($h, only_finished_jobs_are_deleted_by_id);
        $m!($h, activity_counts_states_and_finished_buckets);
        // maintained job counts
        $m!($h, job_counts_follow_every_change_of_jobs);
        $m!($h, job_counts_stay_exact_under_two_processes);
        $m!($h, polls_are_bounded_and_find_their_jobs);
        $m!($h, dispatcher_stats_count_and_rank_jobs);
        // tokens
        $m!($h, tokens_are_found_by_hash_and_revoked);
        $m!($h, jobs_record_the_token_they_were_put_with);
        $m!($h, uploads_and_schedules_record_their_token);
    };
}

/// One `#[tokio::test]` running `$case` on a fresh `$h`.
macro_rules! case_test {
    ($h:ty, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            match <$h as super::Harness>::fresh().await {
                Some(harness) => super::$case(harness).await,
                None => eprintln!("skipped: backend not configured"),
            }
        }
    };
}

/// A test module per backend, each with every case.
macro_rules! backends {
    ($($backend:ident => $h:ty),* $(,)?) => {
        $(
            mod $backend {
                foreach_case!(case_test, $h);
            }
        )*
    };
}

backends!(sqlite => super::SqliteHarness, postgres => super::PgHarness);
