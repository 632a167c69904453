-- 0012: each server's library of Kling elements: a name members type instead of an ID.
-- `name_key` is the name case-folded by the bot: "Mascot" and "mascot" are one element.
CREATE TABLE elements (
    guild_id   INTEGER NOT NULL,
    name_key   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    element_id INTEGER NOT NULL CHECK (element_id > 0),
    added_by   INTEGER NOT NULL,
    added_at   TEXT    NOT NULL,
    PRIMARY KEY (guild_id, name_key)
) WITHOUT ROWID;
