-- A cancel that came before its TaskStarted was tracked: `track` then records the task as done
-- (cancelled) at once, so a task the user no longer wants is never followed.
CREATE TABLE poller.cancelled_assets (
    asset_id     uuid PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
