-- 0014: which bot process is working on a task, and until when. Several processes may share one
-- PostgreSQL database: each claims the tasks it submits, tracks or delivers (and the ones it holds
-- while answering their member) with a lease it renews while it lives. A task whose lease ran out
-- belongs to a process that died: another one claims it and picks it up where it stopped.
-- On SQLite (one process, behind its lock file) the leases are written the same way and every
-- unfinished task is taken back at start.
ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_until TEXT;
CREATE INDEX tasks_unfinished_by_lease ON tasks (lease_until) WHERE finished_at IS NULL;
