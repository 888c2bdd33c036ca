-- Per-user settings; for now the system prompt the user's captions follow (NULL: the default one).
-- `version` grows with every change and travels in CaptionSettingsChanged, so that the captioner's
-- copy keeps the newest; a reset keeps the row (and its version) with a NULL prompt.
CREATE TABLE gateway.user_settings (
    user_id               text PRIMARY KEY,
    caption_system_prompt text CHECK (caption_system_prompt IS NULL OR char_length(caption_system_prompt) <= 2000),
    version               bigint      NOT NULL DEFAULT 1,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
