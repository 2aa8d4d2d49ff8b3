-- Resource accounting (issue 13): one row per run of a job that ended,
-- with the limits it ran under and what it consumed. Counts are stored
-- saturated at the largest INTEGER. `queue` is the job's queue then, for
-- the sums per queue (`job_runs_queue`). The rows go with their job.
CREATE TABLE job_runs (
    job           BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL CHECK (attempt >= 0),
    queue         TEXT NOT NULL,
    dispatcher    BLOB NOT NULL,
    fuel_limit    INTEGER NOT NULL CHECK (fuel_limit >= 0),
    memory_limit  INTEGER NOT NULL CHECK (memory_limit >= 0),
    time_limit_ms INTEGER NOT NULL CHECK (time_limit_ms >= 0),
    fuel_used     INTEGER NOT NULL CHECK (fuel_used >= 0),
    peak_memory   INTEGER NOT NULL CHECK (peak_memory >= 0),
    wall_ms       INTEGER NOT NULL CHECK (wall_ms >= 0),
    output_bytes  INTEGER NOT NULL CHECK (output_bytes >= 0),
    ended_at      INTEGER NOT NULL
);

CREATE INDEX job_runs_job ON job_runs (job, attempt);
CREATE INDEX job_runs_queue ON job_runs (queue);
