-- 0005 (PostgreSQL): a task made from a delivered result remembers it (see migrations/0005).
ALTER TABLE tasks ADD COLUMN edited_from BIGINT REFERENCES tasks (id);
