DROP TABLE IF EXISTS publisher.account_creates;
DROP TABLE IF EXISTS publisher.late_cooldown;
DROP TABLE IF EXISTS publisher.late_calls;
DROP TABLE IF EXISTS publisher.posts;
