-- Set while a replica checks the task: no other check starts before it ends (or the lease runs out).
ALTER TABLE poller.tasks ADD COLUMN checking_until timestamptz;
-- A callback came during a check: look again as soon as that check ends.
ALTER TABLE poller.tasks ADD COLUMN recheck boolean NOT NULL DEFAULT false;
