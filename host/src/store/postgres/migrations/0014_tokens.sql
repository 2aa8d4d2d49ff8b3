-- Scoped API tokens (issue 13, docs/security.md). A token is stored by
-- the SHA-256 of its secret (hex), never the secret. `queues` and
-- `scopes` are JSON arrays of names. A revoked token's row is deleted:
-- what recorded its id (jobs, uploads, schedules) then acts with nothing.
CREATE TABLE tokens (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CONSTRAINT tokens_name_key UNIQUE,
    hash       text NOT NULL UNIQUE CHECK (length(hash) = 64),
    queues     json NOT NULL,
    scopes     json NOT NULL,
    created_at bigint NOT NULL
);

-- The token a job was put with (NULL: the admin); its children inherit
-- it. No foreign key: a job outlives its token's revocation.
ALTER TABLE jobs ADD COLUMN token uuid;

-- Who uploaded each module (token NULL: the admin), once per uploader. A
-- module with no row here (uploaded before tokens existed) is the admin's.
CREATE TABLE module_uploads (
    digest      text NOT NULL REFERENCES modules (digest) ON DELETE CASCADE,
    token       uuid,
    uploaded_at bigint NOT NULL
);
CREATE INDEX module_uploads_digest ON module_uploads (digest);

-- The token a schedule was created with, when not the admin: its jobs are
-- put with it.
CREATE TABLE schedule_tokens (
    schedule uuid PRIMARY KEY REFERENCES schedules (id) ON DELETE CASCADE,
    token    uuid NOT NULL
);
