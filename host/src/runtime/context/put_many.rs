//! `put-many`: a list of job requests put all or none, in one call.
//!
//! The list is checked here as a whole before anything reaches the
//! context: its bytes against [`ARGUMENT_MAX`](super::ARGUMENT_MAX) (over it, the run stops,
//! as for any import), its length against [`PUT_MANY_MAX`] and the
//! run's fan-out cap (a guest error, so the job can split the list), and
//! each request converted as `put` converts it (a broadcast refused:
//! it is put alone), the first refused named
//! by its index as the service names a batch's items (`item 3: ...`).
//! An empty list answers an empty list without a call.

use super::{ContextView, PUT_MANY_MAX, check_size, request_size, wtypes};
use crate::model::JobSpec;

impl ContextView<'_> {
    /// The body of the `put-many` import.
    pub(super) async fn put_many_checked(
        &mut self,
        requests: Vec<wtypes::JobRequest>,
    ) -> wasmtime::Result<Result<Vec<wtypes::PutAnswer>, String>> {
        check_size("put-many", requests.iter().map(request_size).sum())?;
        let count = requests.len();
        if count == 0 {
            return Ok(Ok(Vec::new()));
        }
        if count > PUT_MANY_MAX {
            return Ok(Err(too_many(count)));
        }
        if let Err(e) = self.state.room_for(count).await {
            return Ok(Err(e));
        }
        let specs = match specs_of(requests) {
            Ok(specs) => specs,
            Err(e) => return Ok(Err(e)),
        };
        let answer = self.state.context.put_many(specs).await;
        self.state.count_puts(count, &answer);
        Ok(answer.map(|answers| {
            answers
                .into_iter()
                .map(|a| wtypes::PutAnswer {
                    id: a.id.to_string(),
                    duplicate: a.duplicate,
                })
                .collect()
        }))
    }
}

/// The guest's error for a list of `count` requests, over the maximum.
fn too_many(count: usize) -> String {
    format!(
        "put-many takes at most {PUT_MANY_MAX} requests; this list holds {count}: \
         split it into several calls"
    )
}

/// Each request as a [`JobSpec`], or the error of the first refused,
/// naming its index. A broadcast is refused here, in the guest's words
/// (the service's refusal points to the HTTP API).
fn specs_of(requests: Vec<wtypes::JobRequest>) -> Result<Vec<JobSpec>, String> {
    requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| {
            if request.broadcast {
                return Err(format!("item {index}: {BROADCAST_REFUSED}"));
            }
            JobSpec::try_from(request).map_err(|e| format!("item {index}: {e}"))
        })
        .collect()
}

/// Why a broadcast request is refused.
const BROADCAST_REFUSED: &str =
    "a request of put-many cannot be a broadcast: put a broadcast on its own, with `put`";
