//! A put's insert, written once over each backend's statements: one
//! statement for a batch of up to the backend's row limit, larger batches
//! in chunks in one transaction, and, when a dispatcher offers claims
//! (`service/put_claims.rs`), those claims in the same transaction, so
//! one commit both puts jobs and starts them.

use async_trait::async_trait;
use uuid::Uuid;

use super::jobs::{TunedJobs, explain_insert_failure, inserted_of};
use super::queue::in_queue_order;
use super::statement::{SqlBackend, SqlTx};
use super::{Error, JobClaimParams, Result};
use crate::model::{Job, NewJob};

/// The ids of the jobs an insert inserted.
pub(crate) type Ids = Vec<Uuid>;

/// What an insert wrote: the jobs and, when it claimed in the same
/// transaction, what each claim took.
#[derive(Debug, Default)]
pub(crate) struct Inserted {
    /// The jobs of the batch, in order; `None` for a unique job skipped,
    /// its key held ([`super::unique::SKIP_DUPLICATES`]).
    pub jobs: Vec<Option<Job>>,
    /// What each claim took, in the order of the claims, in queue order.
    pub claimed: Vec<Vec<Job>>,
}

/// A put's statements inside a backend's write transaction.
#[async_trait]
pub(crate) trait PutTx: Send {
    /// Inserts up to [`TunedJobs::insert_rows_max`] jobs in one statement,
    /// adding the ids inserted to `ids` (a unique job whose key is held is
    /// skipped).
    async fn insert_chunk(
        &mut self,
        jobs: &[NewJob],
        ids: &mut Vec<Uuid>,
    ) -> Result<(), sqlx::Error>;
    /// The claim statement of a queue claimed in one statement (a queue
    /// with quotas or a rate gives nothing), with each job's `seq`.
    async fn claim_in_one_statement(&mut self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>>;
}

/// Why a put's transaction failed.
pub(crate) enum PutFailed {
    /// The insert: explained by [`explain_insert_failure`].
    Insert(sqlx::Error),
    /// Anything else.
    Other(Error),
}

impl From<Error> for PutFailed {
    fn from(error: Error) -> Self {
        PutFailed::Other(error)
    }
}

/// Inserts `jobs` and claims for each of `claims` in the same transaction
/// (see [`super::ClaimStore::job_insert_many_claiming`]).
pub(crate) async fn insert_many<B: SqlBackend + TunedJobs>(
    db: &B,
    jobs: &[NewJob],
    claims: &[JobClaimParams],
) -> Result<Inserted> {
    if jobs.is_empty() && claims.is_empty() {
        return Ok(Inserted::default());
    }
    let mut ids = Vec::with_capacity(jobs.len());
    let one_chunk = jobs.len() <= db.insert_rows_max();
    let written = if claims.is_empty() && one_chunk {
        // One statement: committed on its own.
        match db.insert_alone(jobs, &mut ids).await {
            Ok(()) => Ok(Vec::new()),
            Err(error) => Err(PutFailed::Insert(error)),
        }
    } else {
        let tuned = if one_chunk {
            db.insert_chunk_claiming(jobs, claims, &mut ids).await
        } else {
            None
        };
        match tuned {
            Some(written) => written,
            None => insert_in_transaction(db, jobs, claims, &mut ids).await,
        }
    };
    match written {
        Ok(claimed) => Ok(Inserted {
            jobs: inserted_of(jobs, &ids),
            claimed,
        }),
        Err(PutFailed::Insert(error)) => Err(explain_insert_failure(db, jobs, error).await),
        Err(PutFailed::Other(error)) => Err(error),
    }
}

/// The insert in chunks, then the claims, in one transaction (which
/// starts with a write: an insert, or a claim when there are no jobs),
/// each statement on its own.
async fn insert_in_transaction<B: SqlBackend + TunedJobs>(
    db: &B,
    jobs: &[NewJob],
    claims: &[JobClaimParams],
    ids: &mut Ids,
) -> Result<Vec<Vec<Job>>, PutFailed> {
    let mut tx = db.transaction_writing_first().await?;
    let mut claimed = Vec::with_capacity(claims.len());
    {
        let mut conn = tx.conn();
        for chunk in jobs.chunks(db.insert_rows_max()) {
            conn.insert_chunk(chunk, ids)
                .await
                .map_err(PutFailed::Insert)?;
        }
        for params in claims {
            claimed.push(in_queue_order(conn.claim_in_one_statement(params).await?));
        }
    }
    tx.commit().await?;
    Ok(claimed)
}
