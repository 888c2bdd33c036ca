ALTER TABLE captioner.provider_costs
    DROP CONSTRAINT provider_costs_call_key,
    DROP COLUMN estimated,
    DROP COLUMN why,
    DROP COLUMN wasted,
    DROP COLUMN call_ref;
