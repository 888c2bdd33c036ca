DROP INDEX IF EXISTS generator.jobs_variant_assets_idx;
ALTER TABLE generator.jobs DROP COLUMN IF EXISTS cancelled_asset_ids;
ALTER TABLE generator.jobs DROP COLUMN IF EXISTS variant_asset_ids;
