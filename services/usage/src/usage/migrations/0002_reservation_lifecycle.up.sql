-- The reservation lifecycle of usage/domain/reservation.py: units given back without the
-- catalog's verdict (expired by the sweeper, withdrawn by the gateway) and tombstones of
-- withdrawals that arrived before their reserve.
ALTER TABLE usage.reservations DROP CONSTRAINT reservations_state_check;
ALTER TABLE usage.reservations ADD CONSTRAINT reservations_state_check
    CHECK (state IN ('reserved', 'committed', 'released', 'expired', 'withdrawn', 'tombstone'));
-- The job's own deadline (from ReserveQuota); NULL for rows from before it, which fall back to
-- created_at + GENERATION_TIMEOUT_SECONDS.
ALTER TABLE usage.reservations ADD COLUMN deadline_at timestamptz;

-- When the stored plan was decided, so that an older change arriving late is ignored.
ALTER TABLE usage.accounts ADD COLUMN plan_effective_at timestamptz;
