DROP FUNCTION usage.reserve_units(uuid[], text, timestamptz);
DROP FUNCTION usage.take_units(text, date, integer, integer);
DROP TABLE usage.quota_rules;
