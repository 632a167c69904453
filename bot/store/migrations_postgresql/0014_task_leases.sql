-- 0014 (PostgreSQL): which bot process works on a task, and until when (see migrations/0014).
ALTER TABLE tasks ADD COLUMN lease_owner TEXT;
ALTER TABLE tasks ADD COLUMN lease_until TEXT;
CREATE INDEX tasks_unfinished_by_lease ON tasks (lease_until) WHERE finished_at IS NULL;
