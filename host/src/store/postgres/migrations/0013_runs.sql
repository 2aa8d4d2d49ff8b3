-- Resource accounting (issue 13): one row per run of a job that ended,
-- with the limits it ran under and what it consumed. Counts are stored
-- saturated at the largest BIGINT. `queue` is the job's queue then, for
-- the sums per queue (`job_runs_queue`). The rows go with their job.
CREATE TABLE job_runs (
    job           UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       BIGINT NOT NULL CHECK (attempt >= 0),
    queue         TEXT NOT NULL,
    dispatcher    UUID NOT NULL,
    fuel_limit    BIGINT NOT NULL CHECK (fuel_limit >= 0),
    memory_limit  BIGINT NOT NULL CHECK (memory_limit >= 0),
    time_limit_ms BIGINT NOT NULL CHECK (time_limit_ms >= 0),
    fuel_used     BIGINT NOT NULL CHECK (fuel_used >= 0),
    peak_memory   BIGINT NOT NULL CHECK (peak_memory >= 0),
    wall_ms       BIGINT NOT NULL CHECK (wall_ms >= 0),
    output_bytes  BIGINT NOT NULL CHECK (output_bytes >= 0),
    ended_at      BIGINT NOT NULL
);

CREATE INDEX job_runs_job ON job_runs (job, attempt);
CREATE INDEX job_runs_queue ON job_runs (queue);
