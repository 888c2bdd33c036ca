DROP TABLE captioner.provider_costs;
