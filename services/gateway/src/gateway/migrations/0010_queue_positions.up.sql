-- Where a waiting KIE job stands (aistudio_contracts.queue): its ticket, told once by the generator,
-- and each queue's standing; a position is counted from them when the asset is read.
ALTER TABLE gateway.media_assets ADD COLUMN queue_ticket double precision;
ALTER TABLE gateway.media_assets ADD COLUMN queue_typical_seconds double precision;
CREATE TABLE gateway.provider_queues (
    queue           text PRIMARY KEY,
    served_through  double precision NOT NULL,
    next_slot_at    timestamptz      NOT NULL,
    slots_per_cycle integer          NOT NULL,
    cycle_seconds   double precision NOT NULL,
    advanced_at     timestamptz      NOT NULL
);
-- Until the generator first reports: nothing sent yet, KIE's 20 per 10 s (+1 s margin).
INSERT INTO gateway.provider_queues VALUES ('kie', 0, now(), 20, 11, '-infinity');
-- Counting the waiting tickets ahead of one reads only this index, as far as its place.
CREATE INDEX media_assets_queue_idx ON gateway.media_assets (queue_ticket, created_at)
    WHERE status = 'processing' AND provider_task_id IS NULL AND queue_ticket IS NOT NULL;
