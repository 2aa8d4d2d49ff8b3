-- A dispatcher's statistics sum what its runs consumed over a window
-- (`GET /v1/dispatchers/{id}/stats`): the runs it ended, by time.
CREATE INDEX job_runs_dispatcher ON job_runs (dispatcher, ended_at);
