-- Each caption call is one paid call with a stable reference (the asset's attempt, or OpenAI's
-- completion id for an on-demand caption), so a redelivered caption request never records it
-- twice, and it is told as ProviderCostRecorded under that reference. A call that delivered no
-- caption (its answer lost in transit, or filtered) is wasted, with why; units the provider never
-- reported are our estimate, marked as such.
ALTER TABLE captioner.provider_costs
    ADD COLUMN call_ref  text,
    ADD COLUMN wasted    boolean NOT NULL DEFAULT false,
    ADD COLUMN why       text,
    ADD COLUMN estimated boolean NOT NULL DEFAULT false;
UPDATE captioner.provider_costs SET call_ref = 'caption:ledger:' || id WHERE call_ref IS NULL;
ALTER TABLE captioner.provider_costs ALTER COLUMN call_ref SET NOT NULL;
ALTER TABLE captioner.provider_costs ADD CONSTRAINT provider_costs_call_key UNIQUE (provider, call_ref);
