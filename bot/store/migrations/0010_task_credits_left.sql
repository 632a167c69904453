-- 0010: what a member had left when a task was charged, so its status message can say what it
-- cost and what is left ("1 credit · 4 left today") however often it is edited.
-- NULL: the task was charged against no limit (or not charged at all).
ALTER TABLE tasks ADD COLUMN credits_left INTEGER CHECK (credits_left >= 0);
ALTER TABLE tasks ADD COLUMN quota_window TEXT CHECK (quota_window IN ('day', 'week', 'month'));
