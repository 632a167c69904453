-- 0007: a task accepted from a member is held until the member has been answered and the task's
-- inputs are kept. The hold is written in the transaction that charges the task and cleared when
-- the bot releases it, so after a kill -9 in between the next start knows which queued tasks were
-- never confirmed: they are withdrawn with a refund instead of being sent to the API.
-- Only a queued task can be held (every move out of the queue clears the flag).
ALTER TABLE tasks
    ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held = 0 OR state = 'queued');
