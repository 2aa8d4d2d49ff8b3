-- Per-queue fan-out and pending caps (`PUT /v1/queues/{name}/caps`):
-- the most jobs one run of a job in the queue may put (NULL: the server's
-- `job_put_cap`) and the most pending jobs it takes (NULL: no cap).
ALTER TABLE queues ADD COLUMN put_cap BIGINT CHECK (put_cap >= 0);
ALTER TABLE queues ADD COLUMN pending_cap BIGINT CHECK (pending_cap >= 0);
