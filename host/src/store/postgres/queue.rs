//! The queue order the backend's own statements (claims, quota walks)
//! share. The queue operations are written once in `store/queue.rs`, a
//! job's moves in and out of its queue in `store/jobs.rs`.

pub(super) use crate::store::queue::QUEUE_ORDER;
