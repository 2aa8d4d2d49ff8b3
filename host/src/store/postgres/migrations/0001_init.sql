-- wasync on PostgreSQL: the initial schema, the same tables as SQLite's
-- 0001_init.sql. docs/store.md explains every table and index. Times are
-- BIGINT milliseconds since the Unix epoch; ids are uuid; JSON values are
-- `json` (exact text, validated: unlike jsonb it keeps every value as
-- written, `\u0000` included, so both backends give back the same values).
-- Every object is created unqualified: it lands in the schema first on the
-- connection's search_path (see PgStore::open_in_schema).

-- Components, stored in the database so that every machine can load them.
-- `bytes` is TOASTed out of line: reading the other columns never reads it.
CREATE TABLE modules (
    digest     text PRIMARY KEY
               CHECK (digest LIKE 'sha256:%' AND length(digest) = 71),
    name       text CONSTRAINT modules_name_key UNIQUE,
    size       bigint NOT NULL CHECK (size >= 0),
    exports    json NOT NULL,
    created_at bigint NOT NULL,
    bytes      bytea NOT NULL
);

-- Named queues. The default queue '' always exists.
CREATE TABLE queues (
    name       text PRIMARY KEY,
    created_at bigint NOT NULL
);

INSERT INTO queues (name, created_at)
VALUES ('', (extract(epoch FROM clock_timestamp()) * 1000)::bigint);

-- One row per wasync process that does work.
CREATE TABLE dispatchers (
    id               uuid PRIMARY KEY,
    hostname         text NOT NULL,
    pid              bigint NOT NULL,
    poll_interval_ms bigint NOT NULL,
    activated_at     bigint NOT NULL,
    last_ping_at     bigint NOT NULL,
    deactivated_at   bigint
);

-- How each dispatcher takes work from each queue. `fuel_cap` and
-- `memory_cap` hold a u64's bits (never compared in SQL).
CREATE TABLE agents (
    dispatcher uuid NOT NULL
               CONSTRAINT agents_dispatcher_fkey REFERENCES dispatchers (id) ON DELETE CASCADE,
    queue      text NOT NULL
               CONSTRAINT agents_queue_fkey REFERENCES queues (name) ON DELETE CASCADE,
    name       text NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    filter     json,
    fuel_cap   bigint,
    memory_cap bigint,
    PRIMARY KEY (dispatcher, queue, name)
);

-- Jobs. `seq` is the put order, renewed (nextval) when a job is put back:
-- the last key of the queue order. Neither `queue` nor `module` has a
-- foreign key: a completed job keeps the name of a queue deleted since, and
-- a put checks both in its statement (no per-row trigger). Deleting a queue
-- or a module locks `jobs` against writes while it checks for references.
CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    seq          bigserial NOT NULL,
    queue        text NOT NULL,
    status       text NOT NULL CHECK (status IN
                     ('new', 'pending', 'assigned', 'active', 'callbacks', 'completed')),
    module       text NOT NULL,
    module_name  text,
    function     text NOT NULL,
    args         json NOT NULL,
    limits       json,
    begin_after  bigint NOT NULL,
    scheduled    boolean NOT NULL,
    begin_by_ms  bigint CHECK (begin_by_ms >= 0),
    result       json,
    failure      json,
    awaiting     uuid,
    parent       uuid,
    attempts     bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    dispatcher   uuid,
    agent        text,
    created_at   bigint NOT NULL,
    started_at   bigint,
    completed_at bigint,
    -- The guest's output tails: bytes of UTF-8 text (text cannot hold NUL).
    stdout       bytea,
    stderr       bytea,
    CHECK (result IS NULL OR failure IS NULL),
    CHECK (status NOT IN ('callbacks', 'completed') OR result IS NOT NULL OR failure IS NOT NULL),
    CHECK (status NOT IN ('assigned', 'active') OR dispatcher IS NOT NULL)
);

-- The claim: pending jobs in queue order. Only pending jobs are in it, so
-- its first entries are the next jobs however many others are waiting.
CREATE INDEX jobs_pending ON jobs (queue, begin_after, scheduled DESC, seq)
    WHERE status = 'pending';

-- Jobs in flight, by the dispatcher and agent that hold them.
CREATE INDEX jobs_in_flight ON jobs (dispatcher, queue, agent)
    WHERE status IN ('assigned', 'active');

-- Active jobs waiting for another job's result.
CREATE INDEX jobs_awaiting ON jobs (awaiting)
    WHERE status = 'active' AND awaiting IS NOT NULL;

-- Live annotations: a free-form map per job.
CREATE TABLE annotations (
    job        uuid NOT NULL
               CONSTRAINT annotations_job_fkey REFERENCES jobs (id) ON DELETE CASCADE,
    name       text NOT NULL,
    value      json NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (job, name)
);
