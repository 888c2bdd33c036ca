DROP INDEX IF EXISTS gateway.media_assets_queue_idx;
DROP TABLE IF EXISTS gateway.provider_queues;
ALTER TABLE gateway.media_assets DROP COLUMN IF EXISTS queue_typical_seconds;
ALTER TABLE gateway.media_assets DROP COLUMN IF EXISTS queue_ticket;
