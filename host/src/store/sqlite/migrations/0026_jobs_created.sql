-- The dashboard's reads (issue 15), each on an index instead of the table.
--
-- The jobs list searches by creation time
-- (`GET /v1/jobs/query?created_since=&created_before=`): a range on this
-- index reads only the jobs in the range, whatever the table's size.
CREATE INDEX jobs_created ON jobs (created_at);

-- The overview's jobs by queue and state (`GET /v1/activity`) group on
-- exactly these: a scan of this index, smaller than the table, and
-- already in the group's order. Partial on a condition every job meets
-- and only that read states (`created_at >= 0`), so that no statement of
-- a job's life (claims, quotas) picks it over the index made for it.
CREATE INDEX jobs_states ON jobs (queue, status, (failure IS NULL)) WHERE created_at >= 0;

-- Finished jobs by completion time (retention, the last completed job,
-- removal by status) now also hold the columns the overview's last hour
-- reads of each, so the window is read from the index alone; the failed
-- among them (few, and a failure too large to copy into an index) have
-- their own.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (completed_at, queue, status, started_at, begin_after)
    WHERE status IN ('completed', 'cancelled');
CREATE INDEX jobs_failed ON jobs (completed_at, queue)
    WHERE status = 'completed' AND failure IS NOT NULL;
