DROP INDEX IF EXISTS poller.tasks_variant_assets_idx;
ALTER TABLE poller.tasks DROP COLUMN IF EXISTS cancelled_asset_ids;
