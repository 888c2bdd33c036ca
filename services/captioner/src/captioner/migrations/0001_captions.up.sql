-- One caption per asset. A row is claimed (attempts + 1, claimed_until) before OpenAI is asked,
-- so a redelivered or concurrent GenerationCompleted never calls it again once a caption exists,
-- and the number of calls per asset is bounded by `attempts`.
CREATE TABLE captioner.captions (
    asset_id      uuid PRIMARY KEY,
    user_id       text        NOT NULL,
    media_type    text        NOT NULL CHECK (media_type IN ('image', 'video')),
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
    -- 'automatic' (after GenerationCompleted) or 'on-demand' (a user asked for a new one)
    source        text        NOT NULL DEFAULT 'automatic' CHECK (source IN ('automatic', 'on-demand')),
    caption       text,
    model         text,
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_by    uuid,
    claimed_until timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The users' caption system prompts, copied from the gateway's CaptionSettingsChanged events.
CREATE TABLE captioner.user_settings (
    user_id               text PRIMARY KEY,
    caption_system_prompt text,
    version               bigint      NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
