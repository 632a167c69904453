-- 0011 (PostgreSQL): a budget for the whole server (see migrations/0011).
ALTER TABLE guild_settings ADD COLUMN server_limit INTEGER CHECK (server_limit >= 0);
ALTER TABLE guild_settings
    ADD COLUMN server_unlimited INTEGER NOT NULL DEFAULT 0 CHECK (server_unlimited IN (0, 1));
ALTER TABLE guild_settings
    ADD COLUMN server_window TEXT CHECK (server_window IN ('day', 'week', 'month'));
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_id, counts_at);
