-- Job priorities: among a queue's due pending jobs, a higher priority is
-- claimed first; equal priorities keep the queue order (due time,
-- scheduled before plain, put order). The claim index leads with the
-- priority so the claim still reads only the jobs it takes.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

DROP INDEX jobs_pending;
CREATE INDEX jobs_pending ON jobs (queue, priority DESC, begin_after, scheduled DESC, seq)
    WHERE status = 'pending';
