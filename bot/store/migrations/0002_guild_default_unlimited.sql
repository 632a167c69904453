-- A server's default quota can be "no limit". default_limit NULL alone means "use the config's
-- default", so unlimited needs its own flag (and SQLite can't relax the CHECK on default_limit).
ALTER TABLE guild_settings
    ADD COLUMN default_unlimited INTEGER NOT NULL DEFAULT 0 CHECK (default_unlimited IN (0, 1));
