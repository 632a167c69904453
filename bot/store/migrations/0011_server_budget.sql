-- 0011: a budget for the whole server (`/quota server`), over the config's quotas.server_limit.
-- server_limit NULL means "use the config's", so "no limit" needs its own flag (as for the
-- default limit). The server's use is summed from the ledger by guild: an index for that.
ALTER TABLE guild_settings ADD COLUMN server_limit INTEGER CHECK (server_limit >= 0);
ALTER TABLE guild_settings
    ADD COLUMN server_unlimited INTEGER NOT NULL DEFAULT 0 CHECK (server_unlimited IN (0, 1));
ALTER TABLE guild_settings
    ADD COLUMN server_window TEXT CHECK (server_window IN ('day', 'week', 'month'));
CREATE INDEX quota_ledger_by_guild ON quota_ledger (guild_id, counts_at);
