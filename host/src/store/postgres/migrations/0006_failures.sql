-- Failures (issue 7): retry policies, the history of failed attempts, and
-- who rescued a dead dispatcher: the same tables as SQLite's
-- 0006_failures.sql. docs/store.md explains them.

-- A job's own retry policy (JSON of model::RetryPolicy); NULL: its queue's.
ALTER TABLE jobs ADD COLUMN retry json;

-- A queue's default retry policy; NULL: common-four-times.
ALTER TABLE queues ADD COLUMN retry json;

-- The live dispatcher that handled this one's jobs after it died, and when.
ALTER TABLE dispatchers ADD COLUMN rescued_by uuid;
ALTER TABLE dispatchers ADD COLUMN rescued_at bigint;

-- Every failed attempt of every job, kept (m01.remote's getJobErrors).
CREATE TABLE job_attempts (
    job        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    bigint NOT NULL CHECK (attempt >= 0),
    dispatcher uuid,
    kind       text NOT NULL,
    failure    json NOT NULL,
    failed_at  bigint NOT NULL
);

CREATE INDEX job_attempts_job ON job_attempts (job, failed_at);
