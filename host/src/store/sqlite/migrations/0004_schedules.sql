-- Schedules (m01.remote's scheduler items, Delay and Cron) and the link
-- from a job to the schedule occurrence it was put for. docs/schedules.md
-- explains them. Times are integer milliseconds since the Unix epoch.

-- One row per schedule. The job it puts is kept as given (the module by
-- name or digest, resolved at each put); `timing` is JSON (`{"kind":
-- "delay", ...}` or `{"kind": "cron", ...}`), never queried inside.
-- `retry_time` is the lock a scheduler takes (m01's retryTime), `holder`
-- the scheduler that took it last; `version` is bumped by every write so
-- an update can tell it read the latest state.
CREATE TABLE schedules (
    id             BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name           TEXT NOT NULL UNIQUE,
    queue          TEXT NOT NULL,
    module         TEXT NOT NULL,
    function       TEXT NOT NULL,
    args           TEXT NOT NULL,
    limits         TEXT,
    begin_by_ms    INTEGER CHECK (begin_by_ms >= 0),
    timing         TEXT NOT NULL,
    catch_up       TEXT NOT NULL CHECK (catch_up IN ('once', 'all')),
    active         INTEGER NOT NULL CHECK (active IN (0, 1)),
    retry_delay_ms INTEGER NOT NULL CHECK (retry_delay_ms > 0),
    next_call_time INTEGER,
    retry_time     INTEGER,
    holder         TEXT,
    last_call_time INTEGER,
    last_error     TEXT,
    version        INTEGER NOT NULL CHECK (version > 0),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- What a scheduler takes: active schedules by next call time.
CREATE INDEX schedules_due ON schedules (next_call_time) WHERE active = 1;

-- Jobs put by a schedule: which one, and for which occurrence. At most one
-- job per (schedule, occurrence), whatever the number of schedulers: two
-- that raced past the lock cannot both put it. The index also lists a
-- schedule's runs, latest first. No foreign key: a schedule's jobs outlive
-- its deletion.
ALTER TABLE jobs ADD COLUMN schedule_id BLOB;
ALTER TABLE jobs ADD COLUMN occurrence INTEGER;
CREATE UNIQUE INDEX jobs_schedule_occurrence ON jobs (schedule_id, occurrence)
    WHERE schedule_id IS NOT NULL;
