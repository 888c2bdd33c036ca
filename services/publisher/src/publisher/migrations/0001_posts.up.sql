-- One row per post request, committed before any call to Late (the claim). Only posts.py writes it.
CREATE TABLE publisher.posts (
    post_id         uuid PRIMARY KEY,
    user_id         text        NOT NULL,
    media_id        uuid        NOT NULL,
    request         jsonb       NOT NULL,
    -- waiting: nothing sent, free for any worker · claimed: a worker holds it, nothing sent ·
    -- creating: a create may be in flight · in_doubt: a create may have made a post, ask Late ·
    -- following: Late holds the post · published / partial / failed / cancelled: its end
    state           text        NOT NULL CHECK (state IN ('waiting', 'claimed', 'creating', 'in_doubt', 'following',
                                                          'published', 'partial', 'failed', 'cancelled')),
    -- Grows with every move; events carry it so that the gateway never applies an older one.
    version         integer     NOT NULL DEFAULT 1,
    late_post_id    text,
    late_status     text,
    media_url       text,
    platforms       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    failure_reason  text,
    failure_message text,
    attempts        integer     NOT NULL DEFAULT 0,
    checks          integer     NOT NULL DEFAULT 0,
    due_at          timestamptz,
    lease_until     timestamptz,
    in_doubt_since  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz
);
CREATE INDEX posts_due_idx ON publisher.posts (due_at) WHERE due_at IS NOT NULL;
-- Not unique: Late's content dedup may answer two of our requests with one post.
CREATE INDEX posts_late_post_idx ON publisher.posts (late_post_id) WHERE late_post_id IS NOT NULL;

-- Late's API limit, shared by every replica: each call books a row here first.
CREATE TABLE publisher.late_calls (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX late_calls_at_idx ON publisher.late_calls (at);

-- After a 429, no replica calls Late before `until` (its Retry-After).
CREATE TABLE publisher.late_cooldown (
    id    integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    until timestamptz NOT NULL
);

-- Creates per account, for Late's per-account limits (25 an hour; Instagram 100 a day).
CREATE TABLE publisher.account_creates (
    account_id text        NOT NULL,
    platform   text        NOT NULL,
    post_id    uuid        NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, post_id)
);
CREATE INDEX account_creates_at_idx ON publisher.account_creates (account_id, at);
