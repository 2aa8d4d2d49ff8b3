-- wasync on PostgreSQL, 0027: maintained job counts (issue 16 target 5,
-- issue 15's overview). Every count of jobs by queue and status (the
-- metrics' gauges, the overview, `GET /v1/jobs/count`, a queue's length)
-- was a `count(*)` over `jobs`, whose cost grew with the finished jobs
-- kept. The counts are now kept exact by the triggers below on every
-- insert, change and delete of jobs, whatever statement makes it.
--
-- No hot row: several processes change jobs at once, and a counter row
-- updated by every transaction would make them take turns on its lock.
-- Each statement instead appends its changes, summed per (queue, status,
-- failed), to `job_count_deltas` (inserts never wait on each other); the
-- counts are the base plus the deltas (`job_counts_now`), and the store
-- folds the deltas into the base now and then in one statement (see
-- `store/counts.rs`).
CREATE TABLE job_counts (
    queue  text NOT NULL,
    status text NOT NULL,
    -- `failure IS NOT NULL`: the completed jobs split into succeeded and
    -- failed.
    failed boolean NOT NULL,
    count  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, status, failed)
);

CREATE TABLE job_count_deltas (
    queue  text NOT NULL,
    status text NOT NULL,
    failed boolean NOT NULL,
    delta  bigint NOT NULL
-- Rows come and go all the time: vacuumed after a fixed number of dead
-- rows, not a fraction of a table that is small anyway.
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- Statement-level, with transition tables: one insert of a few summed
-- rows per statement, however many jobs it changes.
CREATE FUNCTION jobs_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (queue, status, failed, delta)
    SELECT queue, status, failure IS NOT NULL, count(*) FROM new_jobs
    GROUP BY queue, status, failure IS NOT NULL;
    RETURN NULL;
END $$;

-- Only the groups whose count changed: an update that leaves a job's
-- queue, status and failure alone appends nothing.
CREATE FUNCTION jobs_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (queue, status, failed, delta)
    SELECT queue, status, failed, sum(delta) FROM (
        SELECT queue, status, failure IS NOT NULL AS failed, -1 AS delta FROM old_jobs
        UNION ALL
        SELECT queue, status, failure IS NOT NULL, 1 FROM new_jobs
    ) AS changes
    GROUP BY queue, status, failed HAVING sum(delta) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (queue, status, failed, delta)
    SELECT queue, status, failure IS NOT NULL, -count(*) FROM old_jobs
    GROUP BY queue, status, failure IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_insert();
CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_update();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_delete();

-- Filled after the triggers exist: creating them locked out writes to
-- `jobs` until this migration commits, so no change falls between the
-- count and the first delta.
INSERT INTO job_counts (queue, status, failed, count)
SELECT queue, status, failure IS NOT NULL, count(*) FROM jobs
GROUP BY queue, status, failure IS NOT NULL;

-- The counts as the store reads them, spelled the same on both backends:
-- the base plus the deltas not yet folded, read in one snapshot (a fold
-- moves deltas into the base in one transaction, so no reader sees a
-- delta twice or not at all).
CREATE VIEW job_counts_now (queue, status, failed, count) AS
SELECT queue, status, failed, CAST(sum(count) AS bigint) FROM (
    SELECT queue, status, failed, count FROM job_counts
    UNION ALL
    SELECT queue, status, failed, delta FROM job_count_deltas
) AS parts
GROUP BY queue, status, failed;

-- The overview read this index to count; it reads the counters now, and
-- the index cost a write on every change of status.
DROP INDEX jobs_states;
