-- Unique jobs: a put carrying a uniqueness key inserts nothing while a job
-- of its queue with the same key is in one of that key's states. The key
-- (hashed with its period's bucket) is unique_key; the states it applies
-- to are a bit set in unique_states, one bit per status in life order
-- (model::state_bit). The partial unique index holds exactly the rows
-- whose status is one of their own states, so the database refuses the
-- duplicate, and a job leaving its states stops blocking with no write of
-- its own. The predicate is store::unique::IN_STATES, word for word.
ALTER TABLE jobs ADD COLUMN unique_key text;
ALTER TABLE jobs ADD COLUMN unique_states bigint NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX jobs_unique ON jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND (unique_states & CASE status WHEN 'new' THEN 1 WHEN 'pending' THEN 2 WHEN 'assigned' THEN 4 WHEN 'active' THEN 8 WHEN 'callbacks' THEN 16 WHEN 'completed' THEN 32 WHEN 'cancelled' THEN 64 ELSE 0 END) <> 0;

-- Named jobs carry their policy: the retry policy, limits, priority and
-- uniqueness every job put by the name takes (unless the put gives its
-- own), as one JSON object; NULL: none.
ALTER TABLE job_names ADD COLUMN policy text;

-- A schedule's job carries a priority: every occurrence is put with it.
ALTER TABLE schedules ADD COLUMN priority integer NOT NULL DEFAULT 0;
