-- The user's posts of ready assets to social networks (through the publisher and Late).
-- Only posts.py writes it: created with PostRequested in the outbox, moved by the publisher's events.
CREATE TABLE gateway.posts (
    id              uuid PRIMARY KEY,
    user_id         text        NOT NULL,
    media_id        uuid        NOT NULL REFERENCES gateway.media_assets (id) ON DELETE CASCADE,
    status          text        NOT NULL
                    CHECK (status IN ('scheduled', 'publishing', 'published', 'partial', 'failed', 'cancelled')),
    caption         text        NOT NULL DEFAULT '',
    scheduled_for   timestamptz,
    platforms       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    error_code      text,
    error_message   text,
    -- The publisher's version of the last move applied; older events never overwrite newer ones.
    version         integer     NOT NULL DEFAULT 0,
    idempotency_key text,
    request_hash    text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX posts_user_created_idx ON gateway.posts (user_id, created_at DESC, id DESC);
CREATE INDEX posts_media_idx ON gateway.posts (media_id);
