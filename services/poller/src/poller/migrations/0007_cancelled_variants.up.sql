-- A 4o task makes several assets; the user may cancel some of them and not others. The task is
-- followed while any is wanted, and a result is delivered only to the assets still wanted. A cancel
-- names one asset, so a task is found by any of its variants through the GIN index.
ALTER TABLE poller.tasks ADD COLUMN cancelled_asset_ids uuid[] NOT NULL DEFAULT '{}';
CREATE INDEX tasks_variant_assets_idx ON poller.tasks USING gin (variant_asset_ids);
