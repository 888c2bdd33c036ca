DROP TABLE IF EXISTS gateway.asset_changes;
DROP TABLE IF EXISTS gateway.media_assets;
