DROP TABLE IF EXISTS gateway.user_settings;
