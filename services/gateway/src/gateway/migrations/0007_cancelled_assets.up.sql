-- A user may cancel a processing asset: `cancelled` is terminal, never charged, never delivered.
ALTER TABLE gateway.media_assets DROP CONSTRAINT media_assets_status_check;
ALTER TABLE gateway.media_assets ADD CONSTRAINT media_assets_status_check
    CHECK (status IN ('processing', 'ready', 'error', 'cancelled'));
