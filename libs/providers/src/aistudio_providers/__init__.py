"""AI Studio's provider clients: KIE.ai, Gemini and OpenAI, and one classification of their failures.

Domain-level: no FastAPI, no FastStream. The generator submits, the poller checks status, the
captioner writes captions and the gateway checks callbacks, all through this package.
"""

from .callbacks import (
    CALLBACK_PATH,
    callback_token,
    callback_url,
    kie_signature,
    verify_callback_token,
    verify_kie_signature,
)
from .captions import DEFAULT_CAPTION_SYSTEM_PROMPT, Caption, CaptionWriter
from .errors import ErrorKind, ProviderError
from .gemini import GeminiImageClient, GeneratedImage
from .kie import (
    USER_AGENT,
    CallbackInfo,
    KieClient,
    KieSubmit,
    RetryPolicy,
    TaskFailure,
    TaskState,
    TaskStatus,
    parse_callback,
    parse_record_info,
)
from .media import (
    STORABLE_TYPES,
    DownloadedMedia,
    MediaError,
    MediaTooLargeError,
    MediaUnavailableError,
    UnsupportedMediaTypeError,
    download_client,
    download_media,
    extract_video_frame,
    verified_media_type,
)
from .settings import ProviderSettings

__all__ = [
    "CALLBACK_PATH",
    "DEFAULT_CAPTION_SYSTEM_PROMPT",
    "STORABLE_TYPES",
    "USER_AGENT",
    "CallbackInfo",
    "Caption",
    "CaptionWriter",
    "DownloadedMedia",
    "ErrorKind",
    "GeminiImageClient",
    "GeneratedImage",
    "KieClient",
    "KieSubmit",
    "MediaError",
    "MediaTooLargeError",
    "MediaUnavailableError",
    "ProviderError",
    "ProviderSettings",
    "RetryPolicy",
    "TaskFailure",
    "TaskState",
    "TaskStatus",
    "UnsupportedMediaTypeError",
    "callback_token",
    "callback_url",
    "download_client",
    "download_media",
    "extract_video_frame",
    "kie_signature",
    "parse_callback",
    "parse_record_info",
    "verified_media_type",
    "verify_callback_token",
    "verify_kie_signature",
]
