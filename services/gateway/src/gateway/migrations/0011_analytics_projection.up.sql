-- The analytics projection: one row per generation, written only from the lifecycle events
-- (GenerationRequested, GenerationCompleted, GenerationSettled), read by /api/admin/analytics and
-- /api/usage/history. Never the catalog: analytics can be rebuilt by replaying the events.
CREATE TABLE gateway.analytics_generations (
    asset_id           uuid PRIMARY KEY,
    user_id            text,
    requested_provider text,
    provider           text,
    media_type         text,
    prompt_normalised  text,
    requested_at       timestamptz,
    completed_at       timestamptz,
    settled_at         timestamptz,
    outcome            text,        -- ready | error | cancelled; NULL while in flight
    charged            boolean,
    fallback           boolean NOT NULL DEFAULT false
);
CREATE INDEX analytics_generations_requested_idx ON gateway.analytics_generations (requested_at);
CREATE INDEX analytics_generations_user_idx ON gateway.analytics_generations (user_id, requested_at);
