-- When the provider accepted the task: a submitted asset's ready estimate is this plus the
-- provider's typical duration.
ALTER TABLE gateway.media_assets ADD COLUMN task_started_at timestamptz;
