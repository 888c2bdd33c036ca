-- The cost side of the analytics projection: one row per paid provider call, written only from
-- ProviderCostRecorded, keyed by the call (a call told twice, e.g. found wasted after a cancel, is
-- one row). What the call bought is read against analytics_generations: `outcome` here is only what
-- the publisher knew (wasted), otherwise the asset's settlement says delivered or failed.
CREATE TABLE gateway.analytics_costs (
    provider   text        NOT NULL,
    call_ref   text        NOT NULL,
    asset_id   uuid        NOT NULL,
    user_id    text        NOT NULL,
    model      text        NOT NULL,
    units      numeric     NOT NULL,
    unit       text        NOT NULL,
    usd        numeric     NOT NULL,
    outcome    text,       -- delivered | failed | wasted as told; NULL: the asset's outcome decides
    why        text,       -- why it was wasted (task_after_fallback, after_cancel, answer_lost)
    estimated  boolean     NOT NULL DEFAULT false,
    paid_at    timestamptz NOT NULL,
    PRIMARY KEY (provider, call_ref)
);
CREATE INDEX analytics_costs_paid_idx ON gateway.analytics_costs (paid_at);
CREATE INDEX analytics_costs_asset_idx ON gateway.analytics_costs (asset_id);
