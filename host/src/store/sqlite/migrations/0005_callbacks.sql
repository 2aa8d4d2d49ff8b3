-- Callbacks and composite jobs (docs/callbacks.md). A callback is a job of
-- its own, kept `new` (in no queue) until the job it hangs on has its
-- result; a part of a `serial` or `parallel` composite likewise until its
-- turn. No foreign keys: a callback or part and its job are always
-- written in one transaction, and neither is ever deleted alone.

-- The job whose outcome this callback receives, and on which outcome it
-- runs its function ('always', 'success', 'failure'); otherwise it passes
-- the outcome through.
ALTER TABLE jobs ADD COLUMN callback_of BLOB CHECK (callback_of IS NULL OR length(callback_of) = 16);
ALTER TABLE jobs ADD COLUMN callback_on TEXT
    CHECK (callback_on IS NULL OR callback_on IN ('always', 'success', 'failure'));
-- The composite this job is a part of, and its place among the parts.
ALTER TABLE jobs ADD COLUMN part_of BLOB CHECK (part_of IS NULL OR length(part_of) = 16);
ALTER TABLE jobs ADD COLUMN part_index INTEGER;

-- A job's callbacks by status: "any callback not completed?" and "the
-- callbacks still new" are each one range of this index.
CREATE INDEX jobs_callbacks ON jobs (callback_of, status) WHERE callback_of IS NOT NULL;
-- A composite's parts by status, then in order: "a part running?", "the
-- next new part" are each a range.
CREATE INDEX jobs_parts ON jobs (part_of, status, part_index) WHERE part_of IS NOT NULL;
