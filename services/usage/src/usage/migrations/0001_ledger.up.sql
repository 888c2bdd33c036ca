CREATE TABLE usage.accounts (
    user_id    text PRIMARY KEY,
    plan       text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per user and UTC calendar month; `used` counts completed generations
-- (what the seed called user_usage.media_generations_created), `reserved` those in flight.
CREATE TABLE usage.monthly_usage (
    user_id      text NOT NULL,
    period_start date NOT NULL,
    used         integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (user_id, period_start)
);

-- A unit of quota per generation request: reserved at submit, then committed or released once.
CREATE TABLE usage.reservations (
    request_id   uuid PRIMARY KEY,
    user_id      text NOT NULL,
    period_start date NOT NULL,
    state        text NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX reservations_open_idx ON usage.reservations (created_at) WHERE state = 'reserved';
