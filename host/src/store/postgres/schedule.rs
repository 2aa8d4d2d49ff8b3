//! `schedules` on PostgreSQL: the operations are written once in
//! `store/schedule.rs`; here, the connection each runs on.

use super::PgStore;
use crate::model::{Job, JobId, NewSchedule, Schedule, ScheduleId, ScheduleRun, Timestamp};
use crate::store::schedule;
use crate::store::{
    Result, ScheduleAdvanceParams, ScheduleLock, ScheduleTakeParams, ScheduleUpdateParams,
};

/// Stores a new schedule.
pub(super) async fn insert(db: &PgStore, s: &NewSchedule) -> Result<Schedule> {
    schedule::insert(&mut db.conn(), s).await
}

/// A schedule by name.
pub(super) async fn get(db: &PgStore, name: &str) -> Result<Schedule> {
    schedule::get(&mut db.conn(), name).await
}

/// Every schedule, by name.
pub(super) async fn list(db: &PgStore) -> Result<Vec<Schedule>> {
    schedule::list(&mut db.conn()).await
}

/// Replaces a definition, if still at the version read.
pub(super) async fn update(db: &PgStore, p: ScheduleUpdateParams) -> Result<Schedule> {
    schedule::update(&mut db.conn(), &p).await
}

/// Deletes a schedule by name.
pub(super) async fn delete(db: &PgStore, name: &str) -> Result<()> {
    schedule::delete(&mut db.conn(), name).await
}

/// Takes due schedules, earliest first.
pub(super) async fn take_many(db: &PgStore, p: ScheduleTakeParams) -> Result<Vec<Schedule>> {
    schedule::take_many(&mut db.conn(), &p).await
}

/// Moves a taken schedule on, if the take still holds.
pub(super) async fn advance(db: &PgStore, p: ScheduleAdvanceParams) -> Result<bool> {
    schedule::advance(&mut db.conn(), &p).await
}

/// Records a failed put, if the take still holds.
pub(super) async fn fail(db: &PgStore, lock: &ScheduleLock, error: &str) -> Result<bool> {
    schedule::fail(&mut db.conn(), lock, error).await
}

/// When the next active schedule is due.
pub(super) async fn next_due(db: &PgStore) -> Result<Option<Timestamp>> {
    schedule::next_due(&mut db.conn()).await
}

/// A schedule's jobs, latest occurrence first.
pub(super) async fn runs(db: &PgStore, id: ScheduleId, limit: u32) -> Result<Vec<Job>> {
    schedule::runs(&mut db.conn(), id, limit).await
}

/// The job put for a schedule occurrence, if any.
pub(super) async fn run_of(db: &PgStore, run: ScheduleRun) -> Result<Option<JobId>> {
    schedule::run_of(&mut db.conn(), run).await
}
