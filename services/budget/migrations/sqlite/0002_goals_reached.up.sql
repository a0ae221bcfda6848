-- The targets goals have reached, one row per goal and target: a goal is
-- announced once per target. Rows recorded when the goal was created or
-- given a target it had already reached announce nothing.
CREATE TABLE goals_reached (
    goal_id      BLOB NOT NULL,
    target_minor BIGINT NOT NULL,
    saved_minor  BIGINT NOT NULL,
    announced    BOOLEAN NOT NULL,
    create_time  TEXT NOT NULL,
    PRIMARY KEY (goal_id, target_minor)
);

-- The projection finds the goals on the accounts and categories a batch
-- of ledger events touched.
CREATE INDEX goals_by_account ON goals (user_id, account_id);
CREATE INDEX goals_by_category ON goals (user_id, category_id);
