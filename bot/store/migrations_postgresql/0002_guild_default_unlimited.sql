-- 0002 (PostgreSQL): a server's default quota can be "no limit" (see migrations/0002).
ALTER TABLE guild_settings
    ADD COLUMN default_unlimited INTEGER NOT NULL DEFAULT 0 CHECK (default_unlimited IN (0, 1));
