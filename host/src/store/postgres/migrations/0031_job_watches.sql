-- wasync on PostgreSQL, 0031: a pending job a client waits for is marked
-- beside its row, not on it (store/postgres/watch.rs).
--
-- The mark of 0030 updated the job's row, and a pending job's row held by
-- that update was skipped by a claim running meanwhile (`FOR UPDATE SKIP
-- LOCKED`), which started a job of lower priority first. A finish now
-- announces a job's completion also when a mark for it is here.
--
-- No foreign key to jobs: its check would lock the job's row (`FOR KEY
-- SHARE`), which a claim would skip just the same. A job's marks are
-- dropped as its completion is announced.
CREATE TABLE job_watches (
    job_id uuid PRIMARY KEY
);
