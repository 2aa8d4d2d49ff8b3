-- wasync on PostgreSQL, 0007: the same as SQLite's 0007 (the `cancelled`
-- status, paused queues and dispatchers, named jobs, recent polls, and the
-- indexes of the job queries, statistics and retention). PostgreSQL alters
-- the status CHECK constraint in place.

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN
    ('new', 'pending', 'assigned', 'active', 'callbacks', 'completed', 'cancelled'));
ALTER TABLE jobs DROP CONSTRAINT jobs_check1;
ALTER TABLE jobs ADD CONSTRAINT jobs_check1 CHECK (status NOT IN ('callbacks', 'completed', 'cancelled')
    OR result IS NOT NULL OR failure IS NOT NULL);

CREATE INDEX jobs_started ON jobs (dispatcher, started_at) WHERE started_at IS NOT NULL;

CREATE INDEX jobs_finished ON jobs (completed_at)
    WHERE status IN ('completed', 'cancelled');

CREATE TABLE queue_pauses (
    queue     text PRIMARY KEY
              CONSTRAINT queue_pauses_queue_fkey REFERENCES queues (name) ON DELETE CASCADE,
    paused_at bigint NOT NULL
);

CREATE TABLE dispatcher_pauses (
    dispatcher uuid PRIMARY KEY
               CONSTRAINT dispatcher_pauses_dispatcher_fkey
               REFERENCES dispatchers (id) ON DELETE CASCADE,
    paused_at  bigint NOT NULL
);

CREATE TABLE job_names (
    name       text PRIMARY KEY,
    module     text NOT NULL,
    function   text NOT NULL,
    queue      text NOT NULL,
    args       json NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE polls (
    id         bigserial PRIMARY KEY,
    dispatcher uuid NOT NULL,
    queue      text NOT NULL,
    agent      text NOT NULL,
    polled_at  bigint NOT NULL,
    jobs       uuid[] NOT NULL
);
CREATE INDEX polls_by_dispatcher ON polls (dispatcher, id);
