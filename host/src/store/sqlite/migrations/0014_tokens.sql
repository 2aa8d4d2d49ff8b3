-- Scoped API tokens (issue 13, docs/security.md). A token is stored by
-- the SHA-256 of its secret (hex), never the secret. `queues` and
-- `scopes` are JSON arrays of names. A revoked token's row is deleted:
-- what recorded its id (jobs, uploads, schedules) then acts with nothing.
CREATE TABLE tokens (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    name       TEXT NOT NULL UNIQUE,
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    queues     TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The token a job was put with (NULL: the admin); its children inherit
-- it. No foreign key: a job outlives its token's revocation.
ALTER TABLE jobs ADD COLUMN token BLOB;

-- Who uploaded each module (token NULL: the admin), once per uploader. A
-- module with no row here (uploaded before tokens existed) is the admin's.
CREATE TABLE module_uploads (
    digest      TEXT NOT NULL REFERENCES modules (digest) ON DELETE CASCADE,
    token       BLOB,
    uploaded_at INTEGER NOT NULL
);
CREATE INDEX module_uploads_digest ON module_uploads (digest);

-- The token a schedule was created with, when not the admin: its jobs are
-- put with it.
CREATE TABLE schedule_tokens (
    schedule BLOB PRIMARY KEY NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    token    BLOB NOT NULL
);
