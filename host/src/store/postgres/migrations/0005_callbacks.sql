-- Callbacks and composite jobs (docs/callbacks.md); see the SQLite
-- migration of the same number for the why of each column.
ALTER TABLE jobs ADD COLUMN callback_of uuid;
ALTER TABLE jobs ADD COLUMN callback_on text
    CHECK (callback_on IS NULL OR callback_on IN ('always', 'success', 'failure'));
ALTER TABLE jobs ADD COLUMN part_of uuid;
ALTER TABLE jobs ADD COLUMN part_index int8;

CREATE INDEX jobs_callbacks ON jobs (callback_of, status) WHERE callback_of IS NOT NULL;
CREATE INDEX jobs_parts ON jobs (part_of, status, part_index) WHERE part_of IS NOT NULL;
