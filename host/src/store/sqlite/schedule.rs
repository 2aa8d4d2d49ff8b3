//! `schedules` on SQLite: the operations are written once in
//! `store/schedule.rs`; here, the connection each runs on (reads on the reader pool, writes on the writer).

use super::SqliteStore;
use crate::model::{Job, JobId, NewSchedule, Schedule, ScheduleId, ScheduleRun, Timestamp};
use crate::store::schedule;
use crate::store::{
    Result, ScheduleAdvanceParams, ScheduleLock, ScheduleTakeParams, ScheduleUpdateParams,
};

/// Stores a new schedule.
pub(super) async fn insert(db: &SqliteStore, s: &NewSchedule) -> Result<Schedule> {
    schedule::insert(&mut db.writes(), s).await
}

/// A schedule by name.
pub(super) async fn get(db: &SqliteStore, name: &str) -> Result<Schedule> {
    schedule::get(&mut db.reads(), name).await
}

/// Every schedule, by name.
pub(super) async fn list(db: &SqliteStore) -> Result<Vec<Schedule>> {
    schedule::list(&mut db.reads()).await
}

/// Replaces a definition, if still at the version read.
pub(super) async fn update(db: &SqliteStore, p: ScheduleUpdateParams) -> Result<Schedule> {
    schedule::update(&mut db.writes(), &p).await
}

/// Deletes a schedule by name.
pub(super) async fn delete(db: &SqliteStore, name: &str) -> Result<()> {
    schedule::delete(&mut db.writes(), name).await
}

/// Takes due schedules, earliest first.
pub(super) async fn take_many(db: &SqliteStore, p: ScheduleTakeParams) -> Result<Vec<Schedule>> {
    schedule::take_many(&mut db.writes(), &p).await
}

/// Moves a taken schedule on, if the take still holds.
pub(super) async fn advance(db: &SqliteStore, p: ScheduleAdvanceParams) -> Result<bool> {
    schedule::advance(&mut db.writes(), &p).await
}

/// Records a failed put, if the take still holds.
pub(super) async fn fail(db: &SqliteStore, lock: &ScheduleLock, error: &str) -> Result<bool> {
    schedule::fail(&mut db.writes(), lock, error).await
}

/// When the next active schedule is due.
pub(super) async fn next_due(db: &SqliteStore) -> Result<Option<Timestamp>> {
    schedule::next_due(&mut db.reads()).await
}

/// A schedule's jobs, latest occurrence first.
pub(super) async fn runs(db: &SqliteStore, id: ScheduleId, limit: u32) -> Result<Vec<Job>> {
    schedule::runs(&mut db.reads(), id, limit).await
}

/// The job put for a schedule occurrence, if any.
pub(super) async fn run_of(db: &SqliteStore, run: ScheduleRun) -> Result<Option<JobId>> {
    schedule::run_of(&mut db.reads(), run).await
}
