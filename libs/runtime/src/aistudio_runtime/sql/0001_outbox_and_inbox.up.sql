-- Transactional outbox: events written in the same transaction as the state change they report.
CREATE TABLE __SCHEMA__.outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON __SCHEMA__.outbox (id) WHERE published_at IS NULL;

-- Idempotent consumer: one row per (consumer, event) handled, written with the handler's effect.
CREATE TABLE __SCHEMA__.processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
