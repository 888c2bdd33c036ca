ALTER TABLE usage.accounts DROP COLUMN plan_effective_at;
ALTER TABLE usage.reservations DROP COLUMN deadline_at;
-- The older lifecycle knew only released: a unit given back is released, a tombstone is forgotten.
DELETE FROM usage.reservations WHERE state = 'tombstone';
UPDATE usage.reservations SET state = 'released' WHERE state IN ('expired', 'withdrawn');
ALTER TABLE usage.reservations DROP CONSTRAINT reservations_state_check;
ALTER TABLE usage.reservations ADD CONSTRAINT reservations_state_check
    CHECK (state IN ('reserved', 'committed', 'released'));
