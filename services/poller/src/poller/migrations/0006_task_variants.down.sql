ALTER TABLE poller.tasks DROP COLUMN variant_asset_ids;
