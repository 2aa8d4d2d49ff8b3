-- wasync on PostgreSQL, 0028: the claim's seek of a key's first jobs and
-- the per-key counts, made robust (issue 18 §3).

-- A key's pending jobs, indexed by an expression that names the status:
-- the claim's per-key seek (`store/postgres/quota.rs`, `HEADS`) is written
-- with that expression and no `status = 'pending'`, so no other index of
-- pending jobs can serve it. With the plain column and the status apart,
-- the planner could (without statistics, right after a bulk load) walk
-- `jobs_pending` for each key instead, filtering on the key: a read of the
-- whole queue per key.
DROP INDEX jobs_pending_slot;
CREATE INDEX jobs_pending_slot ON jobs (queue, (CASE WHEN status = 'pending' THEN quota_slot END),
        priority DESC, begin_after, scheduled DESC, seq)
    WHERE (CASE WHEN status = 'pending' THEN quota_slot END) IS NOT NULL;

-- The keys' counts, kept per statement rather than per row: a statement's
-- changes are summed by key and applied in key order, so two transactions
-- writing jobs of the same keys (a put, a claim, a finish, each one
-- statement) lock the keys' rows in the same order and never wait for
-- each other in a cycle. Row by row, they took them in the order of their
-- rows, and two batches over the same keys in opposite orders deadlocked.
-- A change that leaves a key's counts as they were (`assigned` to
-- `active`) locks nothing. A key's row exists from its first job on and is
-- removed only when none of its jobs is pending or holds a slot (deleting
-- its quota), so a key's net change always applies to the count it was
-- taken from.
DROP TRIGGER jobs_quota_slot_insert ON jobs;
DROP TRIGGER jobs_quota_slot_update ON jobs;
DROP TRIGGER jobs_quota_slot_delete ON jobs;
DROP FUNCTION jobs_quota_slot_count();

CREATE FUNCTION jobs_quota_slots_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO quota_slots AS s (queue, slot, pending, held)
        SELECT queue, quota_slot, count(*) FILTER (WHERE status = 'pending'),
               count(*) FILTER (WHERE status IN ('assigned', 'active'))
        FROM new_jobs WHERE quota_slot IS NOT NULL
        GROUP BY queue, quota_slot ORDER BY queue, quota_slot
        ON CONFLICT (queue, slot) DO UPDATE
            SET pending = s.pending + excluded.pending, held = s.held + excluded.held;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO quota_slots AS s (queue, slot, pending, held)
        SELECT queue, quota_slot, -count(*) FILTER (WHERE status = 'pending'),
               -count(*) FILTER (WHERE status IN ('assigned', 'active'))
        FROM old_jobs WHERE quota_slot IS NOT NULL AND status IN ('pending', 'assigned', 'active')
        GROUP BY queue, quota_slot ORDER BY queue, quota_slot
        ON CONFLICT (queue, slot) DO UPDATE
            SET pending = s.pending + excluded.pending, held = s.held + excluded.held;
    ELSE
        INSERT INTO quota_slots AS s (queue, slot, pending, held)
        SELECT queue, quota_slot, sum(pending), sum(held) FROM (
            SELECT queue, quota_slot, -(status = 'pending')::int AS pending,
                   -(status IN ('assigned', 'active'))::int AS held
            FROM old_jobs WHERE quota_slot IS NOT NULL
            UNION ALL
            SELECT queue, quota_slot, (status = 'pending')::int,
                   (status IN ('assigned', 'active'))::int
            FROM new_jobs WHERE quota_slot IS NOT NULL) AS d
        GROUP BY queue, quota_slot HAVING sum(pending) <> 0 OR sum(held) <> 0
        ORDER BY queue, quota_slot
        ON CONFLICT (queue, slot) DO UPDATE
            SET pending = s.pending + excluded.pending, held = s.held + excluded.held;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_quota_slots_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_quota_slots_count();
CREATE TRIGGER jobs_quota_slots_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_quota_slots_count();
CREATE TRIGGER jobs_quota_slots_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_quota_slots_count();
