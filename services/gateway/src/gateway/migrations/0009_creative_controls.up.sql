-- Creative controls: what each asset was made with and how it relates to others.
--   model     the provider's model that made it (cost follows the plan; Gemini names its own)
--   style     the style preset composed into the provider's prompt (the user's prompt is kept as typed)
--   batch_id  the variants requested together; batch_index orders them (result i of one paid task)
--   parent_id the asset an edit started from
ALTER TABLE gateway.media_assets
    ADD COLUMN model       text,
    ADD COLUMN style       text,
    ADD COLUMN template_id text,
    ADD COLUMN batch_id    uuid,
    ADD COLUMN batch_index smallint,
    ADD COLUMN parent_id   uuid;
CREATE INDEX media_assets_batch_idx ON gateway.media_assets (batch_id, batch_index) WHERE batch_id IS NOT NULL;

-- A user's own prompt templates (the built-in library lives in code, beside the providers).
CREATE TABLE gateway.prompt_templates (
    id         uuid PRIMARY KEY,
    user_id    text        NOT NULL,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    type       text        NOT NULL CHECK (type IN ('image', 'video')),
    prompt     text        NOT NULL CHECK (char_length(prompt) BETWEEN 10 AND 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prompt_templates_user_idx ON gateway.prompt_templates (user_id, created_at);
