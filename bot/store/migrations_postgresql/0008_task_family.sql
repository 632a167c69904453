-- 0008 (PostgreSQL): a task's family, and results deleted by their owner or a moderator
-- (see migrations/0008).
ALTER TABLE tasks RENAME COLUMN edited_from TO parent_id;
ALTER TABLE tasks ADD COLUMN parent_kind TEXT
    CONSTRAINT tasks_parent_kind_check CHECK (parent_kind IN ('edit', 'variation'));
UPDATE tasks SET parent_kind = 'edit' WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_by_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_by_rerun_of ON tasks (rerun_of) WHERE rerun_of IS NOT NULL;

ALTER TABLE tasks ADD COLUMN result_deleted_by BIGINT;
ALTER TABLE tasks ADD COLUMN result_deleted_at TEXT;
