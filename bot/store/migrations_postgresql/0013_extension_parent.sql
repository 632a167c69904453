-- 0013 (PostgreSQL): parent_kind 'extension', beside 'edit' and 'variation' (see
-- migrations/0013, which widens SQLite's stored CREATE TABLE text in place).
ALTER TABLE tasks DROP CONSTRAINT tasks_parent_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_parent_kind_check
    CHECK (parent_kind IN ('edit', 'variation', 'extension'));
