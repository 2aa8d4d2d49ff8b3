-- wasync on SQLite, 0002: quotas, a job's quota names, the index that
-- finds jobs past their begin_by deadline, and agents' preferences.
-- docs/store.md explains each.

-- Named caps per queue on how many of their jobs are assigned or active at
-- once, across every dispatcher (zc.async's queue.quotas).
CREATE TABLE quotas (
    queue      TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 1),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (queue, name)
) WITHOUT ROWID;

-- The quotas a job counts against: a JSON array of names, NULL for none
-- (most jobs: they cost the quota checks nothing). Names no longer in
-- `quotas` are ignored.
ALTER TABLE jobs ADD COLUMN quota_names TEXT;

-- Jobs holding quota slots: claims count them per quota name. Only
-- in-flight jobs that name quotas are in it, so it stays as small as the
-- number of such jobs running.
CREATE INDEX jobs_quota_in_flight ON jobs (queue)
    WHERE status IN ('assigned', 'active') AND quota_names IS NOT NULL;

-- Pending jobs with a begin_by, by deadline: expiry and the claimer's
-- next wake-up read its first entries. (begin_by_ms is stored capped so
-- that the sum never overflows.)
CREATE INDEX jobs_deadline ON jobs (queue, (begin_after + begin_by_ms))
    WHERE status = 'pending' AND begin_by_ms IS NOT NULL;

-- An agent's preference (zc.async's preferMul chooser): JSON of an
-- AgentFilter, NULL for none.
ALTER TABLE agents ADD COLUMN prefer TEXT;
