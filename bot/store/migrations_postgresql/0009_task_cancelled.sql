-- 0009 (PostgreSQL): a task can be cancelled by its requester or a moderator (see
-- migrations/0009).
--
-- SQLite rebuilds the table to change its checks; PostgreSQL drops and adds the two checks that
-- name the states. The rebuild also put `user_name` (0006) and `held` (0007) after the new
-- cancel columns: they are moved there too (a new column, the values copied, the old one
-- dropped), so both databases list the columns of `tasks` in one order.
ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check CHECK (state IN (
    'queued', 'submitting', 'submitted', 'processing', 'succeeded',
    'delivering', 'delivered', 'failed', 'rejected', 'timed_out',
    'ambiguous', 'undeliverable', 'cancelled'));
ALTER TABLE tasks DROP CONSTRAINT tasks_finished_iff_terminal;
ALTER TABLE tasks ADD CONSTRAINT tasks_finished_iff_terminal CHECK ((finished_at IS NOT NULL) = (
    state IN ('delivered', 'failed', 'rejected', 'timed_out', 'undeliverable', 'cancelled')));

ALTER TABLE tasks ADD COLUMN cancel_requested_at TEXT;
ALTER TABLE tasks ADD COLUMN cancelled_by BIGINT;
ALTER TABLE tasks ADD COLUMN cancel_refund INTEGER CHECK (cancel_refund IN (0, 1));
ALTER TABLE tasks ADD CONSTRAINT tasks_parent_iff_kind
    CHECK ((parent_id IS NULL) = (parent_kind IS NULL));
ALTER TABLE tasks ADD CONSTRAINT tasks_cancel_iff_by
    CHECK ((cancel_requested_at IS NULL) = (cancelled_by IS NULL));

ALTER TABLE tasks RENAME COLUMN user_name TO user_name_before_0009;
ALTER TABLE tasks ADD COLUMN user_name TEXT;
ALTER TABLE tasks RENAME COLUMN held TO held_before_0009;
ALTER TABLE tasks ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET user_name = user_name_before_0009, held = held_before_0009;
ALTER TABLE tasks DROP COLUMN user_name_before_0009;
ALTER TABLE tasks DROP COLUMN held_before_0009;  -- and its check, added again below
ALTER TABLE tasks ADD CONSTRAINT tasks_held_check CHECK (held = 0 OR state = 'queued');
