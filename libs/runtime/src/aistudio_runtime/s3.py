"""Objects in any S3-compatible store (AWS, MinIO, Ceph, R2) through aiobotocore.

botocore signs every request and brings AWS's credential chain: explicit keys (with a session
token for temporary ones), or, when no keys are configured, the environment's — AWS_ROLE_ARN with
AWS_WEB_IDENTITY_TOKEN_FILE (a Kubernetes service account), a profile, container or instance
metadata — refreshed before they expire. Addressing is path-style by default (`endpoint/bucket/key`),
which every S3-compatible server understands; virtual-host style (`bucket.endpoint/key`) on request.

Uploads carry Content-MD5 (checked by every S3-compatible server) and x-amz-checksum-sha256,
which the server keeps with the object; an upload from a file streams it, after one pass over the
file (in a thread) for the digests. Reads of a whole object ask for that checksum back and check
the body against it, so a corrupted upload or read is never taken for media.
"""

import asyncio
import base64
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError, NoCredentialsError

# How much of a file the digests read at a time, and how much of a download one chunk holds.
_CHUNK = 1024 * 1024
AddressingStyle = Literal["path", "virtual"]
# A botocore event handler (`before-send.s3.PutObject`, ...), for tests that play a bad network.
EventHandler = Callable[..., Any]

# Passed on to whoever serves the object.
_OBJECT_HEADERS = ("content-type", "content-length", "content-range", "etag", "last-modified")

_HINTS = {
    "InvalidAccessKeyId": "check S3_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "check S3_SECRET_ACCESS_KEY (and S3_REGION)",
    "InvalidToken": "check S3_SESSION_TOKEN",
    "ExpiredToken": "the temporary credentials expired: renew S3_SESSION_TOKEN or use a role",
    "AccessDenied": "the credentials may not use this bucket (without s3:ListBucket, a missing object says this too)",
    "NoSuchBucket": "check S3_BUCKET",
    "AuthorizationHeaderMalformed": "check S3_REGION",
    "PermanentRedirect": "check S3_ENDPOINT_URL and S3_REGION: the bucket lives elsewhere",
    "NoCredentials": "set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or give the service a role"
    " (AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE)",
}
# One byte range, the only kind every S3-compatible server answers with 206.
_SINGLE_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")
# A missing object; a missing bucket (NoSuchBucket) is a configuration error instead.
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})


class S3Error(Exception):
    """The store refused or failed a request; the message says what to check."""

    def __init__(self, operation: str, key: str, status: int, code: str, message: str = "") -> None:
        self.operation = operation
        self.key = key
        self.status = status
        self.code = code
        hint = _HINTS.get(code)
        detail = f": {message}" if message else ""
        super().__init__(
            f"S3 {operation} {key!r} failed with HTTP {status} {code}{detail}" + (f" ({hint})" if hint else "")
        )


class S3IntegrityError(S3Error):
    """The bytes read do not match the checksum the store keeps for them."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str | None
    checksum_sha256: str | None


@dataclass(slots=True)
class ObjectStream:
    """An object (or a byte range of it) on its way from the store: iterate `chunks` once, and
    `aclose()` in any case (also when the reader went away before the first chunk)."""

    status: int  # 200, 206 for a range, 416 for a range beyond the end
    headers: dict[str, str]
    chunks: AsyncIterator[bytes] = field(repr=False)
    aclose: Callable[[], Awaitable[None]] = field(repr=False)


async def _no_chunks() -> AsyncIterator[bytes]:
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk


async def _nothing_to_close() -> None:
    return None


def _error_from(failure: Exception, operation: str, key: str) -> S3Error:
    if isinstance(failure, ClientError):
        error = failure.response.get("Error", {})
        status = int(failure.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        code = str(error.get("Code") or f"HTTP{status}")
        return S3Error(operation, key, status, code, str(error.get("Message") or ""))
    if isinstance(failure, NoCredentialsError):
        return S3Error(operation, key, 0, "NoCredentials", "no credentials were found")
    return S3Error(operation, key, 0, type(failure).__name__, str(failure))


def _mismatch(key: str) -> S3IntegrityError:
    return S3IntegrityError("GET", key, 200, "ChecksumMismatch", "the body differs from the stored SHA-256")


def _checksum_of(header: str | None) -> bytes | None:
    """The SHA-256 a full-object checksum header holds; None for composite (multipart) ones."""
    if not header or "-" in header:
        return None
    try:
        digest = base64.b64decode(header, validate=True)
    except ValueError:
        return None
    return digest if len(digest) == 32 else None


class S3Client:
    """Objects of one bucket. Its botocore client is made in the event loop that first uses it.

    Without `access_key_id` and `secret_access_key`, botocore's credential chain finds them.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        bucket: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        region: str = "us-east-1",
        addressing_style: AddressingStyle = "path",
        timeout: float = 60.0,
        event_handlers: Mapping[str, EventHandler] | None = None,
    ) -> None:
        if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"S3 endpoint must be an http(s) URL, not {endpoint_url!r}")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self._credentials = (
            {
                "aws_access_key_id": access_key_id,
                "aws_secret_access_key": secret_access_key,
                "aws_session_token": session_token or None,
            }
            if access_key_id and secret_access_key
            else {}
        )
        self._config = AioConfig(
            s3={"addressing_style": addressing_style},
            connect_timeout=10.0,
            read_timeout=timeout,
            retries={"mode": "standard", "max_attempts": 3},
            # We send and check the SHA-256 ourselves; no extra CRC trailers that some servers refuse.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._handlers = dict(event_handlers or {})
        self._client: Any = None
        self._exits: contextlib.AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _s3(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            exits = contextlib.AsyncExitStack()
            creating = get_session().create_client(
                "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config, **self._credentials
            )
            client = await exits.enter_async_context(creating)
            for event, handler in self._handlers.items():
                client.meta.events.register(event, handler)
            self._client, self._exits, self._loop = client, exits, loop
        return self._client

    async def aclose(self) -> None:
        exits, self._exits, self._client = self._exits, None, None
        if exits is not None:
            await exits.aclose()

    async def put_object(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ContentMD5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
            )
        except (ClientError, BotoCoreError) as failure:
            raise _error_from(failure, "PUT", key) from failure

    async def put_object_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        """Upload the file at `path` in one PUT whose body streams from the file (bounded memory).
        `sha256` (hex) is the file's digest if the caller has it; MD5 is computed here either way."""
        md5_digest, sha256_digest, size = await asyncio.to_thread(_file_digests, path, need_sha256=sha256 is None)
        checksum = bytes.fromhex(sha256) if sha256 else sha256_digest
        s3 = await self._s3()
        reader = await asyncio.to_thread(path.open, "rb")
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=reader,
                ContentLength=size,
                ContentType=content_type,
                ContentMD5=base64.b64encode(md5_digest).decode(),
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(checksum).decode(),
            )
        except (ClientError, BotoCoreError) as failure:
            raise _error_from(failure, "PUT", key) from failure
        finally:
            reader.close()

    async def get_object(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            async with response["Body"] as body:
                data: bytes = await body.read()
        except FlexibleChecksumError as failure:
            raise S3IntegrityError(
                "GET", key, 200, "ChecksumMismatch", "the body differs from the stored SHA-256"
            ) from failure
        except (ClientError, BotoCoreError) as failure:
            error = _error_from(failure, "GET", key)
            if error.code in _MISSING:
                return None
            raise error from failure
        expected = _checksum_of(response.get("ChecksumSHA256"))
        if expected is not None and hashlib.sha256(data).digest() != expected:
            raise _mismatch(key)
        return data

    async def head_object(self, key: str) -> ObjectInfo | None:
        s3 = await self._s3()
        try:
            response = await s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except (ClientError, BotoCoreError) as failure:
            error = _error_from(failure, "HEAD", key)
            if error.code in _MISSING:
                return None
            raise error from failure
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)),
            content_type=response.get("ContentType"),
            etag=response.get("ETag"),
            checksum_sha256=response.get("ChecksumSHA256"),
        )

    async def open_object(self, key: str, byte_range: str | None = None) -> ObjectStream | None:
        """The object as a stream, or one byte range of it (`bytes=0-99`, `bytes=100-`, `bytes=-100`)."""
        options: dict[str, str] = {}
        if byte_range and _SINGLE_RANGE.fullmatch(byte_range.strip()):
            options["Range"] = byte_range.strip()
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=key, **options)
        except (ClientError, BotoCoreError) as failure:
            error = _error_from(failure, "GET", key)
            if error.status == 416:
                info = await self.head_object(key)
                if info is None:
                    return None
                return ObjectStream(416, {"content-range": f"bytes */{info.size}"}, _no_chunks(), _nothing_to_close)
            if error.code in _MISSING:
                return None
            raise error from failure
        metadata = response["ResponseMetadata"]
        headers = {name: value for name, value in metadata.get("HTTPHeaders", {}).items() if name in _OBJECT_HEADERS}
        body = response["Body"]

        async def close() -> None:
            body.close()

        return ObjectStream(int(metadata["HTTPStatusCode"]), headers, _chunks(body), close)


def _file_digests(path: Path, *, need_sha256: bool) -> tuple[bytes, bytes, int]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK):
            md5.update(chunk)
            if need_sha256:
                sha256.update(chunk)
            size += len(chunk)
    return md5.digest(), sha256.digest(), size


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in body.iter_chunks(_CHUNK):
            yield chunk
    finally:
        body.close()
