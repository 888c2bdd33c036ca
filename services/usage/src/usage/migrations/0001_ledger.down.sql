DROP TABLE IF EXISTS usage.reservations;
DROP TABLE IF EXISTS usage.monthly_usage;
DROP TABLE IF EXISTS usage.accounts;
