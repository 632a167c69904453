-- 0008: a task's family, and results deleted by their owner or a moderator.
--
-- `edited_from` becomes a general parent link: `parent_id` with `parent_kind` saying how the
-- task was made from its parent's result ("edit": Edit with Kling; "variation": the 🎲 button,
-- the same request with a changed prompt). Reruns keep their own `rerun_of` (origin 'rerun').
ALTER TABLE tasks RENAME COLUMN edited_from TO parent_id;
ALTER TABLE tasks ADD COLUMN parent_kind TEXT CHECK (parent_kind IN ('edit', 'variation'));
UPDATE tasks SET parent_kind = 'edit' WHERE parent_id IS NOT NULL;
-- /task lists a task's children: its reruns and what was made from its result.
CREATE INDEX tasks_by_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_by_rerun_of ON tasks (rerun_of) WHERE rerun_of IS NOT NULL;

-- The 🗑 button removes the result message; the task stays, with who removed it and when.
ALTER TABLE tasks ADD COLUMN result_deleted_by INTEGER;
ALTER TABLE tasks ADD COLUMN result_deleted_at TEXT;
