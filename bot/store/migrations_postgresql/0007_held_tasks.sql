-- 0007 (PostgreSQL): a task is held until its member has been answered (see migrations/0007).
-- 0009 moves the column to where SQLite's rebuild of the table puts it.
ALTER TABLE tasks
    ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held = 0 OR state = 'queued');
