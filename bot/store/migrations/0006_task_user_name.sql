-- The requester's name as Discord showed it when the task was made, for `kling-bot tasks`
-- (the operator reads names, not snowflakes). NULL for command-line tasks and older rows.
ALTER TABLE tasks ADD COLUMN user_name TEXT;
