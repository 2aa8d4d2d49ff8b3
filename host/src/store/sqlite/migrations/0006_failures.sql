-- Failures (issue 7): retry policies, the history of failed attempts, and
-- who rescued a dead dispatcher. docs/store.md explains them.

-- A job's own retry policy (JSON of model::RetryPolicy); NULL: its queue's.
ALTER TABLE jobs ADD COLUMN retry TEXT;

-- A queue's default retry policy; NULL: common-four-times.
ALTER TABLE queues ADD COLUMN retry TEXT;

-- The live dispatcher that handled this one's jobs after it died, and when.
ALTER TABLE dispatchers ADD COLUMN rescued_by BLOB;
ALTER TABLE dispatchers ADD COLUMN rescued_at INTEGER;

-- Every failed attempt of every job, kept (m01.remote's getJobErrors):
-- `attempt` is the job's start count then, `kind` the failure's kind (what
-- the retry policy counts: interruptions apart from failed runs).
CREATE TABLE job_attempts (
    job        BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL CHECK (attempt >= 0),
    dispatcher BLOB,
    kind       TEXT NOT NULL,
    failure    TEXT NOT NULL,
    failed_at  INTEGER NOT NULL
);

CREATE INDEX job_attempts_job ON job_attempts (job, failed_at);
