-- wasync on SQLite, 0027: maintained job counts (issue 16 target 5, issue
-- 15's overview). Every count of jobs by queue and status (the metrics'
-- gauges, the overview, `GET /v1/jobs/count`, a queue's length) was a
-- `count(*)` over `jobs`, whose cost grew with the finished jobs kept.
-- These counters are kept exact by the triggers below on every insert,
-- change of status, queue or failure, and delete of a job, whatever
-- statement makes it; reading them costs the same at any table size.
-- SQLite has one writer, so a row updated in place costs no contention.
CREATE TABLE job_counts (
    queue  TEXT NOT NULL,
    status TEXT NOT NULL,
    -- `failure IS NOT NULL`: the completed jobs split into succeeded and
    -- failed.
    failed INTEGER NOT NULL,
    count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, status, failed)
) WITHOUT ROWID;

INSERT INTO job_counts (queue, status, failed, count)
SELECT queue, status, failure IS NOT NULL, count(*) FROM jobs
GROUP BY queue, status, failure IS NOT NULL;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_counts (queue, status, failed, count)
    VALUES (NEW.queue, NEW.status, NEW.failure IS NOT NULL, 1)
    ON CONFLICT (queue, status, failed) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, queue, failure ON jobs
WHEN OLD.status IS NOT NEW.status OR OLD.queue IS NOT NEW.queue
  OR (OLD.failure IS NULL) <> (NEW.failure IS NULL)
BEGIN
    UPDATE job_counts SET count = count - 1
        WHERE queue = OLD.queue AND status = OLD.status
          AND failed = (OLD.failure IS NOT NULL);
    INSERT INTO job_counts (queue, status, failed, count)
    VALUES (NEW.queue, NEW.status, NEW.failure IS NOT NULL, 1)
    ON CONFLICT (queue, status, failed) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET count = count - 1
        WHERE queue = OLD.queue AND status = OLD.status
          AND failed = (OLD.failure IS NOT NULL);
END;

-- The counts as the store reads them, spelled the same on both backends
-- (PostgreSQL's adds the deltas not yet folded).
CREATE VIEW job_counts_now (queue, status, failed, count) AS
SELECT queue, status, failed, count FROM job_counts;

-- The overview read this index to count; it reads the counters now, and
-- the index cost a write on every change of status.
DROP INDEX jobs_states;
