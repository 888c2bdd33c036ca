-- One 4o task making several variants: every asset it delivers to, in result order (NULL: one asset).
ALTER TABLE poller.tasks ADD COLUMN variant_asset_ids uuid[];
