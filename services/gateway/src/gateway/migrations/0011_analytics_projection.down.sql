DROP TABLE gateway.analytics_generations;
