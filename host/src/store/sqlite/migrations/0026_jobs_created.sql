-- The dashboard's jobs list searches by creation time
-- (`GET /v1/jobs/query?created_since=&created_before=`): a range on this
-- index reads only the jobs in the range, whatever the table's size.
CREATE INDEX jobs_created ON jobs (created_at);
