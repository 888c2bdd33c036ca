-- A cost row whose units the provider never reported (a Gemini answer lost in transit: paid, no
-- usage field) carries our estimate from the price table's typical output, marked as such.
ALTER TABLE generator.provider_costs ADD COLUMN estimated boolean NOT NULL DEFAULT false;
