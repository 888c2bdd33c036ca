DROP TABLE generator.provider_costs;
