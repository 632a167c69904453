-- 0004 (PostgreSQL): a command's interaction token while its task lives (see migrations/0004).
CREATE TABLE interaction_tokens (
    task_id        BIGINT PRIMARY KEY REFERENCES tasks (id),
    application_id BIGINT NOT NULL,
    token          TEXT   NOT NULL,
    expires_at     TEXT   NOT NULL
);
