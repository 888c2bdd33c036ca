-- A provider callback that came before its TaskStarted was tracked: applied (task due at once) by track.
CREATE TABLE poller.early_callbacks (
    asset_id    uuid PRIMARY KEY,
    task_id     text,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The replica whose check holds the lease: only it renews the lease or reschedules the task.
ALTER TABLE poller.tasks ADD COLUMN lease_owner uuid;
-- When a check found the result made: custody is retried past the deadline, within a grace.
ALTER TABLE poller.tasks ADD COLUMN result_found_at timestamptz;
