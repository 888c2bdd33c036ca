-- Every provider task we wait for, with when to look at it next.
CREATE TABLE poller.tasks (
    asset_id           uuid PRIMARY KEY,
    user_id            text        NOT NULL,
    provider           text        NOT NULL,
    media_type         text        NOT NULL,
    prompt             text        NOT NULL,
    task_id            text        NOT NULL,
    state              text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    outcome            text,
    checks             integer     NOT NULL DEFAULT 0,
    consecutive_errors integer     NOT NULL DEFAULT 0,
    next_check_at      timestamptz NOT NULL,
    deadline_at        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at        timestamptz,
    last_error         text
);
CREATE INDEX tasks_due_idx ON poller.tasks (next_check_at) WHERE state = 'pending';
