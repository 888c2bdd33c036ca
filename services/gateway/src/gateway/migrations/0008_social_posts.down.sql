DROP TABLE IF EXISTS gateway.posts;
