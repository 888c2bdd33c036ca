-- The cost ledger of captions: one row per OpenAI call that answered, with its usage and price.
CREATE TABLE captioner.provider_costs (
    id            bigserial PRIMARY KEY,
    asset_id      uuid          NOT NULL,
    user_id       text          NOT NULL,
    provider      text          NOT NULL,
    model         text          NOT NULL,
    kind          text          NOT NULL CHECK (kind IN ('automatic', 'on-demand')),
    units         numeric       NOT NULL,
    unit          text          NOT NULL,
    input_tokens  integer,
    output_tokens integer,
    usd           numeric       NOT NULL,
    at            timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX provider_costs_asset_idx ON captioner.provider_costs (asset_id);
CREATE INDEX provider_costs_at_idx ON captioner.provider_costs (at);
