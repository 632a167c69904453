-- 0004: the interaction token of the command that made a task, while it lives (15 minutes).
--
-- The last way but one to give a member their video when the bot may not post in the channel:
-- a private followup through the token (the last is a direct message). The token is a secret:
-- it is deleted in the transaction that ends the task, and never logged.
CREATE TABLE interaction_tokens (
    task_id        INTEGER PRIMARY KEY REFERENCES tasks (id),
    application_id INTEGER NOT NULL,
    token          TEXT    NOT NULL,
    expires_at     TEXT    NOT NULL
);
