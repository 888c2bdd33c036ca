-- Weighted fair queuing in front of KIE's account limit (domain/fairness.py): each KIE job waits
-- with a virtual finish tag, the claim serves the smallest due tag first, on every replica alike.
ALTER TABLE generator.jobs ADD COLUMN fair_tag double precision NOT NULL DEFAULT 0;
-- Each user's latest tag, locked while a new one is stamped so concurrent requests queue in turn.
CREATE TABLE generator.fair_shares (
    user_id  text PRIMARY KEY,
    last_tag double precision NOT NULL
);
-- The queue's virtual clock: the largest tag served so far (one row per limited queue).
CREATE TABLE generator.fair_clock (
    queue        text PRIMARY KEY,
    virtual_time double precision NOT NULL DEFAULT 0
);
INSERT INTO generator.fair_clock (queue) VALUES ('kie');
CREATE INDEX jobs_fair_idx ON generator.jobs (fair_tag, due_at) WHERE state = 'waiting';
