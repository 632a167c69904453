-- 0001 (PostgreSQL): the counterpart of migrations/0001_init.sql, which explains each table.
--
-- Applied by bot/store/postgresql_migrate.py in one transaction together with the new
-- schema_version; so no BEGIN/COMMIT here. The two schemas are compared column by column, index
-- by index in tests/unit/test_postgresql_schema.py: a change goes into both folders.
--
-- Translation: Discord ids and row ids are BIGINT (64-bit snowflakes); counts and credits
-- INTEGER; times stay fixed-width ISO-8601 UTC TEXT ('2025-01-31T23:59:59.123456Z'), as in
-- SQLite, so the same SQL compares them as text; flags stay INTEGER 0/1. AUTOINCREMENT becomes
-- an identity column, whose sequence never hands out an id twice. Checks whose list of allowed
-- values a later migration widens carry a name, so that migration can drop and add them.

CREATE TABLE tasks (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id         TEXT    NOT NULL UNIQUE,
    origin              TEXT    NOT NULL CHECK (origin IN ('discord', 'cli', 'rerun')),
    rerun_of            BIGINT  REFERENCES tasks (id),
    guild_id            BIGINT,
    channel_id          BIGINT,
    user_id             BIGINT,
    request_json        TEXT    NOT NULL,
    cost                INTEGER NOT NULL CHECK (cost >= 0),
    state               TEXT    NOT NULL CONSTRAINT tasks_state_check CHECK (state IN (
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
    result_size_bytes   BIGINT  CHECK (result_size_bytes >= 0),
    status_message_id   BIGINT,
    delivery_message_id BIGINT,
    CONSTRAINT tasks_member_unless_cli CHECK (origin = 'cli'
           OR (guild_id IS NOT NULL AND channel_id IS NOT NULL AND user_id IS NOT NULL)),
    CONSTRAINT tasks_rerun_iff_rerun_of CHECK ((origin = 'rerun') = (rerun_of IS NOT NULL)),
    CONSTRAINT tasks_finished_iff_terminal CHECK ((finished_at IS NOT NULL) = (state IN (
        'delivered', 'failed', 'rejected', 'timed_out', 'undeliverable')))
);

CREATE INDEX tasks_unfinished_by_state ON tasks (state) WHERE finished_at IS NULL;
CREATE INDEX tasks_unfinished_by_member ON tasks (guild_id, user_id) WHERE finished_at IS NULL;
CREATE INDEX tasks_by_member ON tasks (guild_id, user_id);
CREATE INDEX tasks_by_guild ON tasks (guild_id);

CREATE TABLE task_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    BIGINT NOT NULL REFERENCES tasks (id),
    at         TEXT   NOT NULL,
    from_state TEXT,
    to_state   TEXT   NOT NULL,
    detail     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX task_events_by_task ON task_events (task_id, id);

CREATE TABLE quota_ledger (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id  BIGINT  NOT NULL,
    user_id   BIGINT  NOT NULL,
    task_id   BIGINT  REFERENCES tasks (id),
    kind      TEXT    NOT NULL CHECK (kind IN ('charge', 'refund', 'reset')),
    credits   INTEGER NOT NULL,
    at        TEXT    NOT NULL,
    counts_at TEXT    NOT NULL,
    CONSTRAINT quota_ledger_reset_iff_no_task CHECK ((kind = 'reset') = (task_id IS NULL)),
    CONSTRAINT quota_ledger_credits_sign
        CHECK (CASE kind WHEN 'charge' THEN credits >= 0 ELSE credits <= 0 END)
);
CREATE UNIQUE INDEX quota_ledger_once_per_task ON quota_ledger (task_id, kind)
    WHERE task_id IS NOT NULL;
CREATE INDEX quota_ledger_by_member ON quota_ledger (guild_id, user_id, counts_at);

-- The ledger and the history are append-only (SQLite: RAISE(ABORT) triggers).
CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER quota_ledger_no_update BEFORE UPDATE ON quota_ledger
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER quota_ledger_no_delete BEFORE DELETE ON quota_ledger
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER task_events_no_delete BEFORE DELETE ON task_events
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();

CREATE TABLE quota_overrides (
    guild_id     BIGINT  NOT NULL,
    target_kind  TEXT    NOT NULL CHECK (target_kind IN ('member', 'role')),
    target_id    BIGINT  NOT NULL,
    credit_limit INTEGER CHECK (credit_limit >= 0),
    quota_window TEXT    CHECK (quota_window IN ('day', 'week', 'month')),
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (guild_id, target_kind, target_id)
);

CREATE TABLE guild_settings (
    guild_id           BIGINT  PRIMARY KEY,
    default_limit      INTEGER CHECK (default_limit >= 0),
    quota_window       TEXT    CHECK (quota_window IN ('day', 'week', 'month')),
    moderator_role_ids TEXT    NOT NULL DEFAULT '[]',
    updated_at         TEXT    NOT NULL
);

CREATE TABLE message_links (
    message_id BIGINT PRIMARY KEY,
    task_id    BIGINT NOT NULL REFERENCES tasks (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('status', 'result'))
);
CREATE INDEX message_links_by_task ON message_links (task_id);
