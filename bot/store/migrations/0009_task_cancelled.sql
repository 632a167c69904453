-- 0009: a task can be cancelled by its requester or a moderator (/cancel).
--
-- A queued task ends `cancelled` at once (refunded). One already at the API can't be stopped
-- there (Kling has no cancel route): the request is written (`cancel_requested_at`, by whom,
-- and whether a video made anyway is refunded, `quotas.refund_cancelled_running` at the time),
-- the task keeps its slot until the API finishes it, and then it ends `cancelled` instead of
-- being delivered.
--
-- SQLite can't change a CHECK constraint, and both of the table's checks name the states: the
-- table is rebuilt (SQLite's documented procedure), keeping every row, id and the AUTOINCREMENT
-- counter. Foreign keys stay on: the rows pointing at tasks are checked at commit, when every
-- task is back.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE tasks_before_0007 AS SELECT * FROM tasks;
CREATE TEMP TABLE sequence_before_0007 AS SELECT seq FROM sqlite_sequence WHERE name = 'tasks';
DROP TABLE tasks;

CREATE TABLE tasks (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id         TEXT    NOT NULL UNIQUE,
    origin              TEXT    NOT NULL CHECK (origin IN ('discord', 'cli', 'rerun')),
    rerun_of            INTEGER REFERENCES tasks (id),
    guild_id            INTEGER,
    channel_id          INTEGER,
    user_id             INTEGER,
    request_json        TEXT    NOT NULL,
    cost                INTEGER NOT NULL CHECK (cost >= 0),
    state               TEXT    NOT NULL CHECK (state IN (
                            'queued', 'submitting', 'submitted', 'processing', 'succeeded',
                            'delivering', 'delivered', 'failed', 'rejected', 'timed_out',
                            'ambiguous', 'undeliverable', 'cancelled')),
    api_task_id         TEXT,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    queued_at           TEXT    NOT NULL,
    submitted_at        TEXT,
    finished_at         TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    not_before          TEXT,
    last_polled_at      TEXT,
    poll_count          INTEGER NOT NULL DEFAULT 0 CHECK (poll_count >= 0),
    progress_pct        INTEGER CHECK (progress_pct BETWEEN 0 AND 100),
    failure_reason      TEXT,
    result_url          TEXT,
    result_path         TEXT,
    result_size_bytes   INTEGER CHECK (result_size_bytes >= 0),
    status_message_id   INTEGER,
    delivery_message_id INTEGER,
    parent_id           INTEGER REFERENCES tasks (id),
    parent_kind         TEXT    CHECK (parent_kind IN ('edit', 'variation')),
    result_deleted_by   INTEGER,
    result_deleted_at   TEXT,
    cancel_requested_at TEXT,
    cancelled_by        INTEGER,
    -- Whether a video the API makes anyway is refunded (quotas.refund_cancelled_running).
    cancel_refund       INTEGER CHECK (cancel_refund IN (0, 1)),
    user_name           TEXT,
    -- Queued, but its member not answered yet (0007): never submitted until released.
    held                INTEGER NOT NULL DEFAULT 0 CHECK (held = 0 OR state = 'queued'),
    CHECK (origin = 'cli'
           OR (guild_id IS NOT NULL AND channel_id IS NOT NULL AND user_id IS NOT NULL)),
    CHECK ((origin = 'rerun') = (rerun_of IS NOT NULL)),
    CHECK ((parent_id IS NULL) = (parent_kind IS NULL)),
    CHECK ((cancel_requested_at IS NULL) = (cancelled_by IS NULL)),
    CHECK ((finished_at IS NOT NULL) = (state IN (
        'delivered', 'failed', 'rejected', 'timed_out', 'undeliverable', 'cancelled')))
);

INSERT INTO tasks (
    id, external_id, origin, rerun_of, guild_id, channel_id, user_id, request_json, cost, state,
    api_task_id, created_at, updated_at, queued_at, submitted_at, finished_at, attempts,
    not_before, last_polled_at, poll_count, progress_pct, failure_reason, result_url,
    result_path, result_size_bytes, status_message_id, delivery_message_id, parent_id,
    parent_kind, result_deleted_by, result_deleted_at, user_name, held)
SELECT
    id, external_id, origin, rerun_of, guild_id, channel_id, user_id, request_json, cost, state,
    api_task_id, created_at, updated_at, queued_at, submitted_at, finished_at, attempts,
    not_before, last_polled_at, poll_count, progress_pct, failure_reason, result_url,
    result_path, result_size_bytes, status_message_id, delivery_message_id, parent_id,
    parent_kind, result_deleted_by, result_deleted_at, user_name, held
FROM temp.tasks_before_0007 ORDER BY id;
DELETE FROM sqlite_sequence WHERE name = 'tasks';
INSERT INTO sqlite_sequence (name, seq) SELECT 'tasks', seq FROM temp.sequence_before_0007;
DROP TABLE temp.tasks_before_0007;
DROP TABLE temp.sequence_before_0007;

CREATE INDEX tasks_unfinished_by_state ON tasks (state) WHERE finished_at IS NULL;
CREATE INDEX tasks_unfinished_by_member ON tasks (guild_id, user_id) WHERE finished_at IS NULL;
CREATE INDEX tasks_by_member ON tasks (guild_id, user_id);
CREATE INDEX tasks_by_guild ON tasks (guild_id);
CREATE INDEX tasks_by_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_by_rerun_of ON tasks (rerun_of) WHERE rerun_of IS NOT NULL;
