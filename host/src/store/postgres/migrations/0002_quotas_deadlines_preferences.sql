-- wasync on PostgreSQL, 0002: the same as SQLite's 0002 (quotas, a job's
-- quota names, the deadline index, agents' preferences). docs/store.md
-- explains each.

CREATE TABLE quotas (
    queue      text NOT NULL
               CONSTRAINT quotas_queue_fkey REFERENCES queues (name) ON DELETE CASCADE,
    name       text NOT NULL,
    size       bigint NOT NULL CHECK (size >= 1),
    created_at bigint NOT NULL,
    PRIMARY KEY (queue, name)
);

-- The quotas a job counts against; NULL for none. Names no longer in
-- `quotas` are ignored.
ALTER TABLE jobs ADD COLUMN quota_names text[];

CREATE INDEX jobs_quota_in_flight ON jobs (queue)
    WHERE status IN ('assigned', 'active') AND quota_names IS NOT NULL;

CREATE INDEX jobs_deadline ON jobs (queue, (begin_after + begin_by_ms))
    WHERE status = 'pending' AND begin_by_ms IS NOT NULL;

ALTER TABLE agents ADD COLUMN prefer json;
