CREATE TABLE gateway.media_assets (
    id                  uuid PRIMARY KEY,
    user_id             text        NOT NULL,
    -- the provider that made (or is making) the media; differs from requested_provider after a fallback
    provider            text        NOT NULL,
    requested_provider  text        NOT NULL,
    type                text        NOT NULL CHECK (type IN ('image', 'video')),
    prompt              text        NOT NULL,
    reference_image_url text,
    aspect_ratio        text        NOT NULL,
    status              text        NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'error')),
    provider_task_id    text,
    result_storage_key  text,
    result_content_type text,
    result_origin_url   text,
    error_code          text,
    error_message       text,
    caption             text,
    caption_status      text        NOT NULL DEFAULT 'none'
                        CHECK (caption_status IN ('none', 'pending', 'ready', 'failed')),
    idempotency_key     text,
    request_hash        text,
    metadata            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX media_assets_gallery_idx ON gateway.media_assets (user_id, created_at DESC, id DESC);
CREATE INDEX media_assets_gallery_type_idx ON gateway.media_assets (user_id, type, created_at DESC, id DESC);
CREATE INDEX media_assets_gallery_status_idx ON gateway.media_assets (user_id, status, created_at DESC, id DESC);
CREATE INDEX media_assets_processing_idx ON gateway.media_assets (created_at) WHERE status = 'processing';
CREATE INDEX media_assets_task_idx ON gateway.media_assets (provider_task_id) WHERE provider_task_id IS NOT NULL;

-- Every change of an asset, in order, so that live views (server-sent events) can resume.
CREATE TABLE gateway.asset_changes (
    seq        bigserial PRIMARY KEY,
    user_id    text        NOT NULL,
    asset_id   uuid        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX asset_changes_user_idx ON gateway.asset_changes (user_id, seq);
