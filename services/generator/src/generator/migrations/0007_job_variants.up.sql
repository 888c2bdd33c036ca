-- A 4o batch is one job making several assets in one paid task (domain/variants.py): every asset
-- it makes, in result order (NULL: the job's own asset only), and those the user cancelled. The job
-- goes on while any is wanted; a cancel is found by any of its assets through the GIN index.
ALTER TABLE generator.jobs ADD COLUMN variant_asset_ids uuid[];
ALTER TABLE generator.jobs ADD COLUMN cancelled_asset_ids uuid[] NOT NULL DEFAULT '{}';
UPDATE generator.jobs SET variant_asset_ids = ARRAY(SELECT jsonb_array_elements_text(request -> 'variant_asset_ids'))::uuid[]
    WHERE jsonb_typeof(request -> 'variant_asset_ids') = 'array';
CREATE INDEX jobs_variant_assets_idx ON generator.jobs USING gin (variant_asset_ids);
