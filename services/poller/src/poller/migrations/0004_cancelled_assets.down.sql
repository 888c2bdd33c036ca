DROP TABLE IF EXISTS poller.cancelled_assets;
