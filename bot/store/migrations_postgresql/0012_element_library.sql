-- 0012 (PostgreSQL): each server's library of Kling elements (see migrations/0012).
CREATE TABLE elements (
    guild_id   BIGINT NOT NULL,
    name_key   TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    element_id BIGINT NOT NULL CHECK (element_id > 0),
    added_by   BIGINT NOT NULL,
    added_at   TEXT   NOT NULL,
    PRIMARY KEY (guild_id, name_key)
);
