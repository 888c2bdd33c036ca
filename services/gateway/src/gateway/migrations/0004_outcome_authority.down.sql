ALTER TABLE gateway.media_assets DROP COLUMN caption_at;
DROP INDEX IF EXISTS gateway.media_assets_deadline_idx;
ALTER TABLE gateway.media_assets DROP COLUMN delivered_late;
ALTER TABLE gateway.media_assets DROP COLUMN charged;
ALTER TABLE gateway.media_assets DROP COLUMN deadline_at;
