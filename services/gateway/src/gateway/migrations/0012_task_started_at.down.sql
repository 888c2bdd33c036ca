ALTER TABLE gateway.media_assets DROP COLUMN IF EXISTS task_started_at;
