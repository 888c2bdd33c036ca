DROP TABLE gateway.analytics_costs;
