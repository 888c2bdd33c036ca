DROP TABLE IF EXISTS captioner.user_settings;
DROP TABLE IF EXISTS captioner.captions;
