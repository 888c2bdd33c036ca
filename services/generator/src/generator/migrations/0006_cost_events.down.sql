ALTER TABLE generator.provider_costs DROP COLUMN estimated;
