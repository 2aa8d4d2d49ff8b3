-- Broadcast jobs: a copy of a broadcast is pinned to one dispatcher, the
-- only one whose claim takes it. The claim tests it on the rows it walks
-- (no index needed there); handing a dispatcher's jobs back and finding
-- dead dispatchers look the copies pinned to it up by this index, which
-- holds only pinned jobs.
ALTER TABLE jobs ADD COLUMN pinned_to uuid;

CREATE INDEX jobs_pinned ON jobs (pinned_to, status) WHERE pinned_to IS NOT NULL;
