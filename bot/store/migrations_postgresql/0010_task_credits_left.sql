-- 0010 (PostgreSQL): what a member had left when a task was charged (see migrations/0010).
ALTER TABLE tasks ADD COLUMN credits_left INTEGER CHECK (credits_left >= 0);
ALTER TABLE tasks ADD COLUMN quota_window TEXT CHECK (quota_window IN ('day', 'week', 'month'));
