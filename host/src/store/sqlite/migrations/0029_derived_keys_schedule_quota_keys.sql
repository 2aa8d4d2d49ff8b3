-- A job whose uniqueness key was derived from its module, function and
-- arguments (its put named no key) keeps how it was derived: the period
-- it was put with in ms (0: none). A change of the job's arguments while
-- it is pending derives its key again from the new ones (with its
-- created_at as the time of the put, which fixes the period's bucket);
-- NULL: no key, or an explicit one, which a change of arguments keeps.
ALTER TABLE jobs ADD COLUMN unique_derived INTEGER;

-- A schedule's job names its keys in partitioned quotas of its queue (a
-- JSON object quota -> key, e.g. {"tenants": "acme"}; NULL: none): every
-- occurrence is put with them.
ALTER TABLE schedules ADD COLUMN quota_keys text;
