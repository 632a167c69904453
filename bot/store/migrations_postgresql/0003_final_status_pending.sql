-- 0003 (PostgreSQL): final states a task's status message does not show yet (see migrations/0003).
CREATE TABLE final_status_pending (
    task_id BIGINT PRIMARY KEY REFERENCES tasks (id)
);
