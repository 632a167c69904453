-- 0003: final states that a task's status message does not show yet.
--
-- A row is written in the transaction that ends a task with a status message (or that gives an
-- ended task its status message), and deleted once Discord took the edit or the message is gone.
-- A refusal or a crash between the two leaves the row: the next start shows that final state.
-- Tasks that ended before this migration are taken as shown.
CREATE TABLE final_status_pending (
    task_id INTEGER PRIMARY KEY REFERENCES tasks (id)
);
