-- wasync on SQLite: the initial schema. docs/store.md explains every table
-- and index. Times are integer milliseconds since the Unix epoch; ids are
-- 16-byte UUID blobs; JSON values are text.

-- Components, stored in the database so that every process sharing the file
-- can load them. `bytes` is the last column: reading the others never
-- touches the (overflow) pages that hold it.
CREATE TABLE modules (
    digest     TEXT PRIMARY KEY NOT NULL
               CHECK (digest GLOB 'sha256:*' AND length(digest) = 71),
    name       TEXT UNIQUE,
    size       INTEGER NOT NULL CHECK (size >= 0),
    exports    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    bytes      BLOB NOT NULL
);

-- Named queues. The default queue '' always exists.
CREATE TABLE queues (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);

INSERT INTO queues (name, created_at)
VALUES ('', CAST(unixepoch('subsec') * 1000 AS INTEGER));

-- One row per wasync process that does work.
CREATE TABLE dispatchers (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    hostname         TEXT NOT NULL,
    pid              INTEGER NOT NULL,
    poll_interval_ms INTEGER NOT NULL,
    activated_at     INTEGER NOT NULL,
    last_ping_at     INTEGER NOT NULL,
    deactivated_at   INTEGER
);

-- How each dispatcher takes work from each queue. `fuel_cap` and
-- `memory_cap` hold a u64's bits (never compared in SQL).
CREATE TABLE agents (
    dispatcher BLOB NOT NULL REFERENCES dispatchers (id) ON DELETE CASCADE,
    queue      TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    filter     TEXT,
    fuel_cap   INTEGER,
    memory_cap INTEGER,
    PRIMARY KEY (dispatcher, queue, name)
) WITHOUT ROWID;

-- Jobs. `seq` is the rowid: the put order, renewed when a job is put back,
-- the last key of the queue order. `queue` has no foreign key: a completed
-- job keeps the name of a queue deleted since.
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    queue        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN
                     ('new', 'pending', 'assigned', 'active', 'callbacks', 'completed')),
    module       TEXT NOT NULL REFERENCES modules (digest),
    module_name  TEXT,
    function     TEXT NOT NULL,
    args         TEXT NOT NULL,
    limits       TEXT,
    begin_after  INTEGER NOT NULL,
    scheduled    INTEGER NOT NULL CHECK (scheduled IN (0, 1)),
    begin_by_ms  INTEGER CHECK (begin_by_ms >= 0),
    result       TEXT,
    failure      TEXT,
    awaiting     BLOB,
    parent       BLOB,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    dispatcher   BLOB,
    agent        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    stdout       TEXT,
    stderr       TEXT,
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
    job        BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job, name)
) WITHOUT ROWID;
