-- 0001: tasks and their history, the quota ledger, quota settings, message links.
--
-- Applied by bot/store/migrate.py inside one BEGIN IMMEDIATE transaction together with
-- `PRAGMA user_version = 1`; so no BEGIN/COMMIT here.
--
-- Times are UTC ISO-8601 text of one fixed width ('2025-01-31T23:59:59.123456Z'): as text they
-- sort and compare in time order (the indexes and window sums rely on that), they round-trip to
-- the microsecond, and they stay readable in the sqlite3 shell.

CREATE TABLE tasks (
    -- AUTOINCREMENT: an id is never reused, so the number a member types always means one task.
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id         TEXT    NOT NULL UNIQUE,  -- 'kob-<uuid4 hex>', sent as external_task_id
    origin              TEXT    NOT NULL CHECK (origin IN ('discord', 'cli', 'rerun')),
    rerun_of            INTEGER REFERENCES tasks (id),
    guild_id            INTEGER,
    channel_id          INTEGER,
    user_id             INTEGER,
    request_json        TEXT    NOT NULL,  -- OmniRequest.model_dump_json()
    cost                INTEGER NOT NULL CHECK (cost >= 0),  -- credits
    state               TEXT    NOT NULL CHECK (state IN (
                            'queued', 'submitting', 'submitted', 'processing', 'succeeded',
                            'delivering', 'delivered', 'failed', 'rejected', 'timed_out',
                            'ambiguous', 'undeliverable')),
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
    CHECK (origin = 'cli'
           OR (guild_id IS NOT NULL AND channel_id IS NOT NULL AND user_id IS NOT NULL)),
    CHECK ((origin = 'rerun') = (rerun_of IS NOT NULL)),
    -- finished_at is set exactly for the terminal states: the partial indexes below key on it, so
    -- "not finished" is one cheap, parameter-free predicate the query planner can match.
    CHECK ((finished_at IS NOT NULL) = (state IN (
        'delivered', 'failed', 'rejected', 'timed_out', 'undeliverable')))
);

-- Resume, the tracker and the queue read only unfinished tasks: these partial indexes hold a few
-- hundred rows however many finished tasks the table keeps.
CREATE INDEX tasks_unfinished_by_state ON tasks (state) WHERE finished_at IS NULL;
CREATE INDEX tasks_unfinished_by_member ON tasks (guild_id, user_id) WHERE finished_at IS NULL;
-- /tasks listings, newest first. The rowid (= id, which grows with created_at) is the implicit
-- last key of every index, so these serve `ORDER BY id DESC` and `id < ?` paging with no sort.
CREATE INDEX tasks_by_member ON tasks (guild_id, user_id);
CREATE INDEX tasks_by_guild ON tasks (guild_id);

CREATE TABLE task_events (
    id         INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL REFERENCES tasks (id),
    at         TEXT    NOT NULL,
    from_state TEXT,  -- NULL for the event that created the task
    to_state   TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX task_events_by_task ON task_events (task_id, id);

CREATE TABLE quota_ledger (
    id        INTEGER PRIMARY KEY,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    task_id   INTEGER REFERENCES tasks (id),  -- NULL only for a moderator's reset
    kind      TEXT    NOT NULL CHECK (kind IN ('charge', 'refund', 'reset')),
    credits   INTEGER NOT NULL,  -- + for a charge, − for a refund or a reset
    at        TEXT    NOT NULL,  -- when the row was written
    -- The instant whose quota window the credits belong to. A refund counts where its charge did,
    -- so a task charged yesterday and refunded today gives nothing extra today.
    counts_at TEXT    NOT NULL,
    CHECK ((kind = 'reset') = (task_id IS NULL)),
    CHECK (CASE kind WHEN 'charge' THEN credits >= 0 ELSE credits <= 0 END)
);
-- A task is charged once and refunded at most once, whatever a crash or a retry does.
CREATE UNIQUE INDEX quota_ledger_once_per_task ON quota_ledger (task_id, kind)
    WHERE task_id IS NOT NULL;
CREATE INDEX quota_ledger_by_member ON quota_ledger (guild_id, user_id, counts_at);

-- The ledger and the history are append-only: a correction is a new row, never an edit.
CREATE TRIGGER quota_ledger_no_update BEFORE UPDATE ON quota_ledger
BEGIN
    SELECT RAISE(ABORT, 'quota_ledger is append-only');
END;
CREATE TRIGGER quota_ledger_no_delete BEFORE DELETE ON quota_ledger
BEGIN
    SELECT RAISE(ABORT, 'quota_ledger is append-only');
END;
CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;
CREATE TRIGGER task_events_no_delete BEFORE DELETE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only');
END;

CREATE TABLE quota_overrides (
    guild_id     INTEGER NOT NULL,
    target_kind  TEXT    NOT NULL CHECK (target_kind IN ('member', 'role')),
    target_id    INTEGER NOT NULL,
    credit_limit INTEGER CHECK (credit_limit >= 0),  -- NULL = unlimited, 0 = blocked
    quota_window TEXT    CHECK (quota_window IN ('day', 'week', 'month')),  -- NULL = server's
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (guild_id, target_kind, target_id)
) WITHOUT ROWID;

CREATE TABLE guild_settings (
    guild_id           INTEGER PRIMARY KEY,
    default_limit      INTEGER CHECK (default_limit >= 0),  -- NULL = the config's default
    quota_window       TEXT    CHECK (quota_window IN ('day', 'week', 'month')),  -- NULL = config's
    moderator_role_ids TEXT    NOT NULL DEFAULT '[]',  -- JSON array of role ids
    updated_at         TEXT    NOT NULL
);

-- Which task a bot message belongs to, so a 🔁 reaction on a result finds the task to rerun.
CREATE TABLE message_links (
    message_id INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL REFERENCES tasks (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('status', 'result'))
);
CREATE INDEX message_links_by_task ON message_links (task_id);
