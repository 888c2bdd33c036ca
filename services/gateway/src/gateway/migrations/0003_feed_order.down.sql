-- Back to one global numbering. Each user's changes keep their order; clients' Last-Event-IDs
-- from the per-user numbering no longer mean anything (they resume from wherever they point).
DROP TABLE gateway.user_feeds;
ALTER TABLE gateway.asset_changes DROP CONSTRAINT asset_changes_pkey;
UPDATE gateway.asset_changes AS c SET seq = numbered.n
    FROM (SELECT user_id, seq, row_number() OVER (ORDER BY user_id, seq) AS n FROM gateway.asset_changes) AS numbered
    WHERE c.user_id = numbered.user_id AND c.seq = numbered.seq;
CREATE SEQUENCE gateway.asset_changes_seq_seq OWNED BY gateway.asset_changes.seq;
SELECT setval('gateway.asset_changes_seq_seq', COALESCE((SELECT max(seq) FROM gateway.asset_changes), 0) + 1, false);
ALTER TABLE gateway.asset_changes ALTER COLUMN seq SET DEFAULT nextval('gateway.asset_changes_seq_seq');
ALTER TABLE gateway.asset_changes ADD PRIMARY KEY (seq);
CREATE INDEX asset_changes_user_idx ON gateway.asset_changes (user_id, seq);
