-- wasync on SQLite, 0007: the management tools (issue 7 points 4-6):
-- the `cancelled` status, paused queues and dispatchers, named jobs, the
-- bounded record of recent polls, and the indexes the job queries,
-- statistics and retention read. docs/store.md explains each.

-- `cancelled` joins the statuses. SQLite cannot alter a CHECK constraint,
-- so `jobs` is rebuilt: a new table with every column, the rows copied
-- (`seq` kept), the old table dropped, the new one renamed. The migration
-- runs in one transaction with foreign keys on; dropping `jobs` would
-- delete the annotations referencing it (ON DELETE CASCADE), so
-- `annotations` is rebuilt first, referencing the new table: renaming
-- `jobs_new` to `jobs` renames that reference too. Every index on `jobs`
-- is created again.
CREATE TABLE jobs_new (
    seq          INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    queue        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN
                     ('new', 'pending', 'assigned', 'active', 'callbacks', 'completed',
                      'cancelled')),
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
    quota_names  TEXT,
    schedule_id  BLOB,
    occurrence   INTEGER,
    callback_of  BLOB CHECK (callback_of IS NULL OR length(callback_of) = 16),
    callback_on  TEXT
                 CHECK (callback_on IS NULL OR callback_on IN ('always', 'success', 'failure')),
    part_of      BLOB CHECK (part_of IS NULL OR length(part_of) = 16),
    part_index   INTEGER,
    retry        TEXT,
    CHECK (result IS NULL OR failure IS NULL),
    CHECK (status NOT IN ('callbacks', 'completed', 'cancelled')
           OR result IS NOT NULL OR failure IS NOT NULL),
    CHECK (status NOT IN ('assigned', 'active') OR dispatcher IS NOT NULL)
);

INSERT INTO jobs_new (seq, id, queue, status, module, module_name, function, args, limits,
                      begin_after, scheduled, begin_by_ms, result, failure, awaiting, parent,
                      attempts, dispatcher, agent, created_at, started_at, completed_at,
                      stdout, stderr, quota_names, schedule_id, occurrence,
                      callback_of, callback_on, part_of, part_index, retry)
SELECT seq, id, queue, status, module, module_name, function, args, limits,
       begin_after, scheduled, begin_by_ms, result, failure, awaiting, parent,
       attempts, dispatcher, agent, created_at, started_at, completed_at,
       stdout, stderr, quota_names, schedule_id, occurrence,
       callback_of, callback_on, part_of, part_index, retry
FROM jobs;

CREATE TABLE annotations_new (
    job        BLOB NOT NULL REFERENCES jobs_new (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job, name)
) WITHOUT ROWID;

INSERT INTO annotations_new (job, name, value, updated_at)
SELECT job, name, value, updated_at FROM annotations;

CREATE TABLE job_attempts_new (
    job        BLOB NOT NULL REFERENCES jobs_new (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL CHECK (attempt >= 0),
    dispatcher BLOB,
    kind       TEXT NOT NULL,
    failure    TEXT NOT NULL,
    failed_at  INTEGER NOT NULL
);

INSERT INTO job_attempts_new (job, attempt, dispatcher, kind, failure, failed_at)
SELECT job, attempt, dispatcher, kind, failure, failed_at FROM job_attempts;

DROP TABLE annotations;
DROP TABLE job_attempts;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
ALTER TABLE annotations_new RENAME TO annotations;
ALTER TABLE job_attempts_new RENAME TO job_attempts;
CREATE INDEX job_attempts_job ON job_attempts (job, failed_at);

CREATE INDEX jobs_pending ON jobs (queue, begin_after, scheduled DESC, seq)
    WHERE status = 'pending';
CREATE INDEX jobs_in_flight ON jobs (dispatcher, queue, agent)
    WHERE status IN ('assigned', 'active');
CREATE INDEX jobs_awaiting ON jobs (awaiting)
    WHERE status = 'active' AND awaiting IS NOT NULL;
CREATE INDEX jobs_quota_in_flight ON jobs (queue)
    WHERE status IN ('assigned', 'active') AND quota_names IS NOT NULL;
CREATE INDEX jobs_deadline ON jobs (queue, (begin_after + begin_by_ms))
    WHERE status = 'pending' AND begin_by_ms IS NOT NULL;
CREATE UNIQUE INDEX jobs_schedule_occurrence ON jobs (schedule_id, occurrence)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_callbacks ON jobs (callback_of, status) WHERE callback_of IS NOT NULL;
CREATE INDEX jobs_parts ON jobs (part_of, status, part_index) WHERE part_of IS NOT NULL;

-- Statistics: the jobs a dispatcher started, by start time.
CREATE INDEX jobs_started ON jobs (dispatcher, started_at) WHERE started_at IS NOT NULL;

-- Finished jobs by completion time: retention by age or count, the last
-- completed job, removal by status.
CREATE INDEX jobs_finished ON jobs (completed_at)
    WHERE status IN ('completed', 'cancelled');

-- Queues no dispatcher claims from (m01.remote's stopProcessor, per queue).
CREATE TABLE queue_pauses (
    queue     TEXT PRIMARY KEY NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    paused_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Dispatchers that claim nothing (m01.remote's stopProcessor).
CREATE TABLE dispatcher_pauses (
    dispatcher BLOB PRIMARY KEY NOT NULL REFERENCES dispatchers (id) ON DELETE CASCADE,
    paused_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Named jobs (m01.remote's job factories): a name for a module and a
-- function, with the queue and arguments a put by name uses by default.
CREATE TABLE job_names (
    name       TEXT PRIMARY KEY NOT NULL,
    module     TEXT NOT NULL,
    function   TEXT NOT NULL,
    queue      TEXT NOT NULL,
    args       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The recent polls that claimed something (zc.async's rotating poll
-- record): what each agent of each dispatcher claimed, kept to the latest
-- few hundred per dispatcher. `jobs` is a JSON array of job ids (hex).
CREATE TABLE polls (
    id         INTEGER PRIMARY KEY,
    dispatcher BLOB NOT NULL,
    queue      TEXT NOT NULL,
    agent      TEXT NOT NULL,
    polled_at  INTEGER NOT NULL,
    jobs       TEXT NOT NULL
);
CREATE INDEX polls_by_dispatcher ON polls (dispatcher, id);
