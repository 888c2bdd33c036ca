-- Cancelled assets read as failed ones once the status is gone (neither was charged).
UPDATE gateway.media_assets SET status = 'error', error_code = 'cancelled' WHERE status = 'cancelled';
ALTER TABLE gateway.media_assets DROP CONSTRAINT media_assets_status_check;
ALTER TABLE gateway.media_assets ADD CONSTRAINT media_assets_status_check
    CHECK (status IN ('processing', 'ready', 'error'));
