-- Per-user change numbers, assigned in commit order (see gateway/feed.py): the next number of a
-- user comes from their counter row, whose lock is held until the change's transaction commits.
CREATE TABLE gateway.user_feeds (
    user_id text   PRIMARY KEY,
    seq     bigint NOT NULL
);
-- Existing changes keep their numbers: they already increase per user, and the Last-Event-IDs
-- that clients hold name them. Each counter continues from its user's last one.
INSERT INTO gateway.user_feeds (user_id, seq)
    SELECT user_id, max(seq) FROM gateway.asset_changes GROUP BY user_id;
ALTER TABLE gateway.asset_changes ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE gateway.asset_changes_seq_seq;
ALTER TABLE gateway.asset_changes DROP CONSTRAINT asset_changes_pkey;
ALTER TABLE gateway.asset_changes ADD PRIMARY KEY (user_id, seq);
DROP INDEX gateway.asset_changes_user_idx;
