"""Fetching result media into our custody, and a still frame of a video for captioning.

Provider URLs expire (14 days, 10 minutes for Flux origin images), so results are downloaded
once, checked (size, type) and checksummed before they are stored as ours. `download_media`
gives the bytes (small images); `download_media_file` streams to a temporary file, so a video
of hundreds of megabytes never sits in memory.
"""

import contextlib
import hashlib
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from aistudio_contracts import FailureReason

from .kie.client import USER_AGENT
from .netguard import BlockedDestinationError, Origin, PublicOnlyTransport, origin_of
from .settings import ProviderSettings

# The only types we keep and serve: each is recognised by its first bytes (`sniff_content_type`), so
# a file's stored type is what it is, whatever the provider or uploader called it.
STORABLE_TYPES = ("image/png", "image/jpeg", "image/webp", "video/mp4", "video/webm")
DEFAULT_ALLOWED_TYPES = STORABLE_TYPES
# Result CDNs sometimes label files generically; then the first bytes decide alone.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_FRAME_TIMEOUT_SECONDS = 60
# Enough of the first bytes for `sniff_content_type` (WebM names its doctype a few dozen bytes in).
_SNIFF_BYTES = 64


class MediaError(Exception):
    """A download or conversion that did not give usable media."""

    def __init__(
        self,
        user_message: str,
        *,
        reason: FailureReason = FailureReason.PROVIDER_ERROR,
        retryable: bool = False,
        http_status: int | None = None,
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.reason = reason
        # True when the same download may work later (5xx, network); False when it never will.
        self.retryable = retryable
        self.http_status = http_status


class MediaTooLargeError(MediaError):
    pass


class UnsupportedMediaTypeError(MediaError):
    pass


class MediaUnavailableError(MediaError):
    pass


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    data: bytes
    content_type: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    """A checked download on local disk; the file is gone once its `download_media_file` block ends."""

    path: Path
    content_type: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class _Received:
    content_type: str
    sha256: str
    size: int


def download_client(settings: ProviderSettings, *, public_only: bool = False) -> httpx.AsyncClient:
    """The HTTP client for fetching results and reference images (long reads, our User-Agent).

    Every connection, redirect hops included, goes to a checked public address on a web port
    (netguard). `public_only` for URLs a user gave us: no exception at all. Otherwise (provider
    results) the provider endpoints configured in `settings` are exempt: the operator chose them,
    and in development they are the simulator on a loopback port.
    """
    trusted = () if public_only else _configured_origins(settings)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.download_timeout_seconds, connect=settings.http_connect_timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        transport=PublicOnlyTransport(trusted=trusted),
        max_redirects=5,
        trust_env=False,  # an environment proxy would connect for us, past the check
    )


def _configured_origins(settings: ProviderSettings) -> tuple[Origin, ...]:
    urls = (settings.kie_base_url, settings.gemini_base_url, settings.openai_base_url)
    return tuple(origin for origin in map(origin_of, urls) if origin is not None)


async def download_media(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
) -> DownloadedMedia:
    """Stream `url` into memory, refusing anything larger than `max_bytes` or of another type."""
    received = bytearray()
    checked = await _receive(http, url, received.extend, max_bytes=max_bytes, allowed=tuple(allowed_types))
    return DownloadedMedia(
        data=bytes(received), content_type=checked.content_type, sha256=checked.sha256, size=checked.size
    )


@asynccontextmanager
async def download_media_file(
    http: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
    directory: str | Path | None = None,
) -> AsyncIterator[DownloadedFile]:
    """Stream `url` to a temporary file (in `directory`), with the same checks as `download_media`
    made while the bytes arrive; memory use is one chunk, whatever the size. The file is removed
    when the block ends, also on error."""
    fd, name = tempfile.mkstemp(prefix=".download-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as sink:
            checked = await _receive(http, url, sink.write, max_bytes=max_bytes, allowed=tuple(allowed_types))
        yield DownloadedFile(path=path, content_type=checked.content_type, sha256=checked.sha256, size=checked.size)
    finally:
        # Synchronous on purpose: an await here could be cancelled and leave the file behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def _receive(
    http: httpx.AsyncClient,
    url: str,
    write: Callable[[bytes], object],
    *,
    max_bytes: int,
    allowed: tuple[str, ...],
) -> _Received:
    """Hand each chunk of `url` to `write`, counting and hashing as it goes; checks status, declared
    type and size first, and the first bytes when the declared type says nothing."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            _check_status(response)
            declared = _media_type(response.headers.get("content-type"))
            declared = _ALIASES.get(declared, declared)
            if declared not in _GENERIC_TYPES and not type_allowed(declared, allowed):
                raise UnsupportedMediaTypeError(f"The result has an unexpected type ({declared}).")
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise MediaTooLargeError(f"The result is larger than the {max_bytes} bytes allowed.")
            # Content-Length can lie or be absent: count what actually arrives and stop at the limit.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaTooLargeError(f"The result is larger than the {max_bytes} bytes allowed.")
                if len(head) < _SNIFF_BYTES:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                digest.update(chunk)
                write(chunk)
    except BlockedDestinationError as exc:
        raise MediaUnavailableError("The URL does not point to a public internet address.") from exc
    except httpx.InvalidURL as exc:  # e.g. a host in fullwidth digits, which IDNA refuses
        raise MediaUnavailableError("The URL is not one we can fetch.") from exc
    except httpx.TransportError as exc:
        raise MediaUnavailableError("The result could not be downloaded right now.", retryable=True) from exc
    content_type = verified_media_type(head, declared, allowed=allowed)
    return _Received(content_type=content_type, sha256=digest.hexdigest(), size=size)


def verified_media_type(head: bytes, declared: str | None, *, allowed: Iterable[str] = STORABLE_TYPES) -> str:
    """The type to store `head`'s file under: what its first bytes are, if that is an allowed type.

    Raises UnsupportedMediaTypeError for bytes of no type we keep (HTML, SVG, a script named .png),
    or whose declared type is another family (a "video" that is an image): a browser must never be
    handed a file under a type that is not its own. For KIE, Gemini and uploads alike.
    """
    allowed = tuple(allowed)
    declared = _media_type(declared)
    declared = _ALIASES.get(declared, declared)
    actual = sniff_content_type(head)
    if actual is None or actual not in STORABLE_TYPES or not type_allowed(actual, allowed):
        raise UnsupportedMediaTypeError(f"The result has an unexpected type ({actual or declared or 'unknown'}).")
    if declared not in _GENERIC_TYPES and declared.split("/", 1)[0] != actual.split("/", 1)[0]:
        raise UnsupportedMediaTypeError(f"The result says it is {declared} but is {actual}.")
    return actual


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise MediaUnavailableError("The result could not be downloaded right now.", retryable=True, http_status=status)
    raise MediaUnavailableError("The result is no longer available from the provider.", http_status=status)


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def type_allowed(content_type: str, allowed: Iterable[str]) -> bool:
    """`allowed` entries are exact types ("video/mp4") or families ("image/*")."""
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern.endswith("/*") and content_type.startswith(pattern[:-1]):
            return True
        if content_type == pattern:
            return True
    return False


def sniff_content_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[4:8] == b"ftyp":  # ISO base media (MP4 and its brands)
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:_SNIFF_BYTES]:  # EBML, doctype webm
        return "video/webm"
    return None


def extract_video_frame(data: bytes, *, at_seconds: float = 1.0) -> bytes:
    """A PNG of one frame of an MP4 (blocking: call it through asyncio.to_thread).

    A second in rather than the first frame, which is often a fade from black; clips shorter
    than that fall back to their first frame.
    """
    import imageio_ffmpeg  # optional dependency ("video" extra): only captioning needs it

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="aistudio-frame-") as workdir:
        # A file, not a pipe: MP4s often keep their index at the end, which a pipe cannot seek to.
        source = Path(workdir) / "video.mp4"
        source.write_bytes(data)
        for seek in (at_seconds, 0.0) if at_seconds > 0 else (0.0,):
            frame = _run_ffmpeg_frame(ffmpeg, source, seek)
            if frame:
                return frame
    raise MediaError("A frame could not be read from the video.")


def _run_ffmpeg_frame(ffmpeg: str, source: Path, seek: float) -> bytes:
    command = [ffmpeg, "-v", "error", "-nostdin", "-ss", f"{seek:.3f}", "-i", str(source)]
    command += ["-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "pipe:1"]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=_FRAME_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return b""
    return completed.stdout if completed.returncode == 0 else b""
