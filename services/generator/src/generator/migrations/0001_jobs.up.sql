-- One row per generation job, committed before any paid call is made (the claim).
CREATE TABLE generator.jobs (
    asset_id           uuid PRIMARY KEY,
    user_id            text        NOT NULL,
    requested_provider text        NOT NULL,
    provider           text        NOT NULL,
    media_type         text        NOT NULL,
    -- claimed: a worker holds it, nothing sent yet · waiting: nothing in flight, free for any worker ·
    -- submitting: a paid request may be in flight · submitted: the provider gave us a task id ·
    -- completed / failed: the outcome is recorded
    state              text        NOT NULL
                       CHECK (state IN ('claimed', 'waiting', 'submitting', 'submitted', 'completed', 'failed')),
    task_id            text,
    failure_reason     text,
    claimed_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    submit_started_at  timestamptz,
    finished_at        timestamptz
);

-- KIE allows 20 new tasks per 10 s per account: every replica books its submissions here.
CREATE TABLE generator.kie_submissions (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX kie_submissions_at_idx ON generator.kie_submissions (at);
