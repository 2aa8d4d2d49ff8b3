-- wasync on PostgreSQL, 0023: partitioned quotas (per-key concurrency)
-- and rate limits (issue 18 §3, §4). docs/queue-features.md explains them.

-- A partitioned quota applies its size to each key separately. A rate is
-- at most `rate_limit` claims per fixed window of `rate_period_ms`; on a
-- partitioned quota it applies per key.
ALTER TABLE quotas ADD COLUMN partitioned boolean NOT NULL DEFAULT false;
ALTER TABLE quotas ADD COLUMN rate_limit bigint CHECK (rate_limit >= 1);
ALTER TABLE quotas ADD COLUMN rate_period_ms bigint CHECK (rate_period_ms >= 1);

-- A queue's own rate, and its current window: when it ends (ms) and the
-- claims counted in it, written by the claim under its lock.
ALTER TABLE queues ADD COLUMN rate_limit bigint CHECK (rate_limit >= 1);
ALTER TABLE queues ADD COLUMN rate_period_ms bigint CHECK (rate_period_ms >= 1);
ALTER TABLE queues ADD COLUMN rate_until bigint NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN rate_starts bigint NOT NULL DEFAULT 0;

-- A job's key in a partitioned quota is stored as the first entry of its
-- quota names, `quota U+001F key` (names and keys have no control
-- characters); this column is that entry, NULL for a job without one.
ALTER TABLE jobs ADD COLUMN quota_slot text GENERATED ALWAYS AS (
    CASE WHEN strpos(quota_names[1], chr(31)) > 0 THEN quota_names[1] END) STORED;

-- One row per key of a partitioned quota that has had jobs: how many of
-- its jobs are pending and how many hold a slot (assigned or active),
-- kept by the trigger below, and its rate window (when it ends, the
-- claims counted in it). The claim reads the
-- keys with pending jobs and room here, never the queue's jobs.
CREATE TABLE quota_slots (
    queue       text NOT NULL,
    slot        text NOT NULL,
    pending     bigint NOT NULL DEFAULT 0,
    held        bigint NOT NULL DEFAULT 0,
    rate_until bigint NOT NULL DEFAULT 0,
    rate_starts bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, slot)
);

CREATE FUNCTION jobs_quota_slot_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.quota_slot IS NOT NULL THEN
        UPDATE quota_slots
            SET pending = pending - (OLD.status = 'pending')::int,
                held = held - (OLD.status IN ('assigned', 'active'))::int
            WHERE queue = OLD.queue AND slot = OLD.quota_slot;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.quota_slot IS NOT NULL THEN
        INSERT INTO quota_slots (queue, slot, pending, held)
        VALUES (NEW.queue, NEW.quota_slot, (NEW.status = 'pending')::int,
                (NEW.status IN ('assigned', 'active'))::int)
        ON CONFLICT (queue, slot) DO UPDATE
            SET pending = quota_slots.pending + excluded.pending,
                held = quota_slots.held + excluded.held;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_quota_slot_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.quota_slot IS NOT NULL)
    EXECUTE FUNCTION jobs_quota_slot_count();
CREATE TRIGGER jobs_quota_slot_update AFTER UPDATE OF status, queue, quota_names ON jobs
    FOR EACH ROW WHEN (OLD.quota_slot IS NOT NULL OR NEW.quota_slot IS NOT NULL)
    EXECUTE FUNCTION jobs_quota_slot_count();
CREATE TRIGGER jobs_quota_slot_delete AFTER DELETE ON jobs
    FOR EACH ROW WHEN (OLD.quota_slot IS NOT NULL)
    EXECUTE FUNCTION jobs_quota_slot_count();

-- A key's pending jobs in queue order: the claim reads the first ones of
-- each key with room. Jobs without a key have their own index in the same
-- order, so the walk over them never steps over keyed jobs.
CREATE INDEX jobs_pending_slot ON jobs (queue, quota_slot, priority DESC, begin_after, scheduled DESC, seq)
    WHERE status = 'pending' AND quota_slot IS NOT NULL;
CREATE INDEX jobs_pending_unslotted ON jobs (queue, priority DESC, begin_after, scheduled DESC, seq)
    WHERE status = 'pending' AND quota_slot IS NULL;
