-- Limits that always hold (issue 13): an agent's cap on the wall-clock
-- time of the jobs it runs, in milliseconds (a u64's bits, like fuel_cap
-- and memory_cap; never compared in SQL). NULL: the server's default time
-- limit for jobs that ask for none.
ALTER TABLE agents ADD COLUMN time_cap_ms BIGINT;
