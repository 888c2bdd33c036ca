-- The job's one deadline (stamped at acceptance, carried by GenerationRequested), and how the
-- outcome was settled: charged or not, and whether the media arrived after the asset had failed.
ALTER TABLE gateway.media_assets ADD COLUMN deadline_at timestamptz;
ALTER TABLE gateway.media_assets ADD COLUMN charged boolean;
ALTER TABLE gateway.media_assets ADD COLUMN delivered_late boolean NOT NULL DEFAULT false;
CREATE INDEX media_assets_deadline_idx ON gateway.media_assets (deadline_at) WHERE status = 'processing';
-- When the shown caption was written: an older caption (automatic or on demand) never replaces a newer one.
ALTER TABLE gateway.media_assets ADD COLUMN caption_at timestamptz;
