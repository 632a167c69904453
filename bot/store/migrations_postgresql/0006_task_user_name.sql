-- 0006 (PostgreSQL): the requester's name as Discord showed it (see migrations/0006).
-- 0009 moves the column to where SQLite's rebuild of the table puts it.
ALTER TABLE tasks ADD COLUMN user_name TEXT;
