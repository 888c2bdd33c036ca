"""Our own custody of generated media: provider URLs expire, ours do not.

Keys look like `2026/11/<asset id>.png`. The local store writes atomically (temp file, then
rename), so a reader never sees half a file and a repeated put of the same key is harmless.
`put_file` takes media already on local disk (a streamed download), so large files are copied
or uploaded from the file and never held in memory.
The S3 store keeps them in a bucket of any S3-compatible server, under an optional prefix;
`create_media_store` picks one by configuration (MEDIA_STORE). Local media lives on one host:
every replica that stores or serves media must see the same directory, which a cluster does not
give, so a replicated or clustered configuration with MEDIA_STORE=local warns at start-up.
"""

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .logging import get_logger
from .s3 import ObjectInfo, ObjectStream, S3Client
from .settings import ServiceSettings

_COPY_CHUNK = 1024 * 1024
log = get_logger(__name__)


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def put_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        """Store the file at `path` under `key` (the file itself is left where it is).
        `sha256` (hex), when the caller already computed it, saves reading the file twice."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    def local_path(self, key: str) -> Path | None: ...


@runtime_checkable
class StreamingMediaStore(MediaStore, Protocol):
    """A store whose media is served by streaming it (no local file to hand to the web server)."""

    async def open(self, key: str, byte_range: str | None = None) -> ObjectStream | None: ...


class LocalMediaStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid media key: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def put_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        await asyncio.to_thread(self._copy, self._path(key), path)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        LocalMediaStore._replace(path, lambda handle: handle.write(data))

    @staticmethod
    def _copy(path: Path, source: Path) -> None:
        # A copy, not a rename: the source may be on another filesystem, and it stays the caller's.
        def copy(handle: BinaryIO) -> None:
            with source.open("rb") as reader:
                shutil.copyfileobj(reader, handle, _COPY_CHUNK)

        LocalMediaStore._replace(path, copy)

    @staticmethod
    def _replace(path: Path, fill: Callable[[BinaryIO], object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return await asyncio.to_thread(lambda: path.read_bytes() if path.exists() else None)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.exists() else None


class S3MediaStore:
    """Media in a bucket of any S3-compatible store, as `<prefix>/<key>`."""

    def __init__(self, client: S3Client, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix.strip("/")

    def object_key(self, key: str) -> str:
        segments = key.split("/")
        if not key or any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 or ord(c) == 127 for c in key):
            raise ValueError(f"invalid media key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(self.object_key(key), data, content_type)

    async def put_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        await self.client.put_object_file(self.object_key(key), path, content_type, sha256=sha256)

    async def get(self, key: str) -> bytes | None:
        return await self.client.get_object(self.object_key(key))

    async def head(self, key: str) -> ObjectInfo | None:
        return await self.client.head_object(self.object_key(key))

    async def open(self, key: str, byte_range: str | None = None) -> ObjectStream | None:
        return await self.client.open_object(self.object_key(key), byte_range)

    def local_path(self, key: str) -> Path | None:
        return None

    async def aclose(self) -> None:
        await self.client.aclose()


def local_media_warning(settings: ServiceSettings) -> str | None:
    """Why MEDIA_STORE=local will not hold here, or None: several replicas or a NATS cluster."""
    if settings.media_store != "local":
        return None
    reasons = []
    if settings.replicas_hint > 1:
        reasons.append(f"REPLICAS_HINT={settings.replicas_hint}")
    if settings.stream_replicas > 1:
        reasons.append(f"STREAM_REPLICAS={settings.stream_replicas}")
    if len(settings.nats_servers) > 1:
        reasons.append(f"NATS_URL names {len(settings.nats_servers)} servers")
    if not reasons:
        return None
    return (
        f"MEDIA_STORE=local keeps media on this host only, but this looks like a cluster ({', '.join(reasons)}):"
        " a replica elsewhere cannot serve or caption what another stored. Use MEDIA_STORE=s3"
        " (see docs/operations.md), or one volume every replica mounts."
    )


def create_media_store(settings: ServiceSettings, local_dir: str | Path) -> MediaStore:
    """The store MEDIA_STORE names: `local_dir` (the service's MEDIA_DIR), or the S3 bucket."""
    if settings.media_store == "local":
        warning = local_media_warning(settings)
        if warning:
            log.warning("media_on_one_host_only", detail=warning)
        return LocalMediaStore(local_dir)
    missing = settings.missing_s3_settings()
    if missing or not settings.s3_bucket:
        raise ValueError(f"MEDIA_STORE=s3 needs {', '.join(missing or ['S3_BUCKET'])}")
    secret, token = settings.s3_secret_access_key, settings.s3_session_token
    client = S3Client(
        # Unset: botocore's endpoint for the region (AWS).
        endpoint_url=settings.s3_endpoint_url,
        bucket=settings.s3_bucket,
        # Unset keys: botocore's chain (a web identity role on Kubernetes, a profile, instance metadata).
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        session_token=token.get_secret_value() if token else None,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
    )
    return S3MediaStore(client, settings.s3_prefix)


_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}


def media_key(asset_id: object, content_type: str, *, year: int, month: int) -> str:
    """Where an asset's media lives in our store: `YYYY/MM/<asset id>.<ext>`."""
    extension = _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "bin")
    return f"{year:04d}/{month:02d}/{asset_id}.{extension}"
