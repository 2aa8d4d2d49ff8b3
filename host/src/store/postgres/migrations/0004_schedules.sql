-- Schedules (m01.remote's scheduler items, Delay and Cron) and the link
-- from a job to the schedule occurrence it was put for: the same tables as
-- SQLite's 0004_schedules.sql. docs/schedules.md explains them. Times are
-- BIGINT milliseconds since the Unix epoch.

-- One row per schedule. The job it puts is kept as given (the module by
-- name or digest, resolved at each put); `timing` is JSON, never queried
-- inside. `retry_time` is the lock a scheduler takes (m01's retryTime),
-- `holder` the scheduler that took it last; `version` is bumped by every
-- write so an update can tell it read the latest state.
CREATE TABLE schedules (
    id             uuid PRIMARY KEY,
    name           text NOT NULL CONSTRAINT schedules_name_key UNIQUE,
    queue          text NOT NULL,
    module         text NOT NULL,
    function       text NOT NULL,
    args           json NOT NULL,
    limits         json,
    begin_by_ms    bigint CHECK (begin_by_ms >= 0),
    timing         json NOT NULL,
    catch_up       text NOT NULL CHECK (catch_up IN ('once', 'all')),
    active         boolean NOT NULL,
    retry_delay_ms bigint NOT NULL CHECK (retry_delay_ms > 0),
    next_call_time bigint,
    retry_time     bigint,
    holder         text,
    last_call_time bigint,
    last_error     text,
    version        bigint NOT NULL CHECK (version > 0),
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL
);

-- What a scheduler takes: active schedules by next call time.
CREATE INDEX schedules_due ON schedules (next_call_time) WHERE active;

-- Jobs put by a schedule: which one, and for which occurrence. At most one
-- job per (schedule, occurrence), whatever the number of schedulers. The
-- index also lists a schedule's runs, latest first. No foreign key: a
-- schedule's jobs outlive its deletion.
ALTER TABLE jobs ADD COLUMN schedule_id uuid, ADD COLUMN occurrence bigint;
CREATE UNIQUE INDEX jobs_schedule_occurrence ON jobs (schedule_id, occurrence)
    WHERE schedule_id IS NOT NULL;
