-- The cost ledger: one row per paid call (a KIE task, a Gemini generation), with what it cost.
-- `wasted`: paid and known at once to deliver nothing (a KIE task after the fallback, work after a
-- cancel, a Gemini answer that was lost); otherwise the asset's outcome says delivered or failed.
CREATE TABLE generator.provider_costs (
    id            bigserial PRIMARY KEY,
    asset_id      uuid          NOT NULL,
    user_id       text          NOT NULL,
    provider      text          NOT NULL,
    model         text          NOT NULL,
    call_ref      text,                       -- the KIE task id; NULL for Gemini
    units         numeric       NOT NULL,
    unit          text          NOT NULL CHECK (unit IN ('credits', 'tokens')),
    input_tokens  integer,
    output_tokens integer,
    usd           numeric       NOT NULL,
    wasted        boolean       NOT NULL DEFAULT false,
    why           text,
    at            timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (provider, call_ref)
);
CREATE INDEX provider_costs_asset_idx ON generator.provider_costs (asset_id);
CREATE INDEX provider_costs_at_idx ON generator.provider_costs (at);
