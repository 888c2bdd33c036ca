-- Per-user limits shared by every gateway replica.
-- Request rate: one fixed-window counter per (user, bucket, minute), taken with one upsert.
CREATE TABLE gateway.rate_windows (
    user_id text NOT NULL,
    bucket text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (user_id, bucket, window_start)
);
-- Open event streams: a row each, kept alive by a heartbeat; a replica that died leaves rows whose
-- heartbeat stops, and they stop counting.
CREATE TABLE gateway.open_streams (
    id uuid PRIMARY KEY,
    user_id text NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX open_streams_user_idx ON gateway.open_streams (user_id, heartbeat_at);
-- On-demand captions: each one asked for (the month's allowance counts them) and whether it is still
-- in flight (at most a few per user at once).
CREATE TABLE gateway.caption_requests (
    id uuid PRIMARY KEY,
    user_id text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    succeeded boolean
);
CREATE INDEX caption_requests_user_idx ON gateway.caption_requests (user_id, requested_at);
-- Who changed whose plan, when, to what: admin actions are kept.
CREATE TABLE gateway.admin_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor_id text NOT NULL,
    action text NOT NULL,
    target_user_id text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX admin_audit_at_idx ON gateway.admin_audit (at DESC);
