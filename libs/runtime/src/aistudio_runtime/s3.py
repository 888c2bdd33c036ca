"""Objects in any S3-compatible store (AWS, MinIO, Ceph, R2) over plain HTTP: our own small client.

Requests are signed with AWS Signature Version 4 (header signing, payload hash signed too).
Addressing is path-style by default (`endpoint/bucket/key`), which every S3-compatible server
understands; virtual-host style (`bucket.endpoint/key`) on request.

Uploads carry Content-MD5 (checked by every S3-compatible server) and x-amz-checksum-sha256,
which the server keeps with the object (an upload from a file streams it, with Content-Length,
after one pass over the file for the two digests); reads of a whole object ask for that checksum back and
check the body against it, so a corrupted upload or read is never taken for media.
"""

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import httpx

ALGORITHM = "AWS4-HMAC-SHA256"
# How much of a file an upload reads at a time.
_FILE_CHUNK = 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AddressingStyle = Literal["path", "virtual"]

# Headers worth signing besides every x-amz-*: what the server must not let anyone change.
_SIGNED = frozenset({"host", "content-type", "content-md5", "range"})
# Passed on to whoever serves the object.
_OBJECT_HEADERS = ("content-type", "content-length", "content-range", "etag", "last-modified")

_HINTS = {
    "InvalidAccessKeyId": "check S3_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "check S3_SECRET_ACCESS_KEY (and S3_REGION)",
    "AccessDenied": "the credentials may not use this bucket (without s3:ListBucket, a missing object says this too)",
    "NoSuchBucket": "check S3_BUCKET",
    "AuthorizationHeaderMalformed": "check S3_REGION",
    "PermanentRedirect": "check S3_ENDPOINT_URL and S3_REGION: the bucket lives elsewhere",
}
# One byte range, the only kind every S3-compatible server answers with 206.
_SINGLE_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")
# A missing object; a missing bucket (NoSuchBucket) is a configuration error instead.
_MISSING = frozenset({"NoSuchKey", "NotFound"})
_STATUS_CODES = {301: "PermanentRedirect", 400: "BadRequest", 403: "AccessDenied", 404: "NotFound"}


def uri_encode(value: str, *, keep_slashes: bool = False) -> str:
    """Percent-encode all but RFC 3986's unreserved characters (and `/` in paths), as SigV4 wants."""
    return quote(value, safe="/" if keep_slashes else "")


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((uri_encode(unquote(name)), uri_encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class SigV4Signer:
    """AWS Signature Version 4 over a request's method, URL, chosen headers and payload hash."""

    def __init__(self, access_key_id: str, secret_access_key: str, region: str, service: str = "s3") -> None:
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.region = region
        self.service = service

    def _scope(self, date: str) -> str:
        return f"{date}/{self.region}/{self.service}/aws4_request"

    def signing_key(self, date: str) -> bytes:
        key = _hmac(f"AWS4{self._secret}".encode(), date)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        return key

    def authorization(self, method: str, url: httpx.URL, headers: Mapping[str, str], payload_sha256: str) -> str:
        """The Authorization header for these headers (names in any case; `x-amz-date` among them)."""
        amz_date = next(value for name, value in headers.items() if name.lower() == "x-amz-date")
        canonical_headers = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
        signed = ";".join(sorted(canonical_headers))
        path, _, query = url.raw_path.decode("ascii").partition("?")
        canonical_request = "\n".join(
            [
                method.upper(),
                path or "/",
                _canonical_query(query),
                "".join(f"{name}:{canonical_headers[name]}\n" for name in sorted(canonical_headers)),
                signed,
                payload_sha256,
            ]
        )
        scope = self._scope(amz_date[:8])
        string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
        signature = hmac.new(self.signing_key(amz_date[:8]), string_to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{ALGORITHM} Credential={self.access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"

    def sign(self, request: httpx.Request, payload_sha256: str, now: datetime | None = None) -> None:
        """Date, payload hash and Authorization onto an S3 request, just before it is sent."""
        now = now or datetime.now(UTC)
        request.headers["x-amz-date"] = now.strftime("%Y%m%dT%H%M%SZ")
        request.headers["x-amz-content-sha256"] = payload_sha256
        chosen = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in _SIGNED or name.lower().startswith("x-amz-")
        }
        request.headers["authorization"] = self.authorization(request.method, request.url, chosen, payload_sha256)


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


def _error_from(response: httpx.Response, operation: str, key: str) -> S3Error:
    code, message = _STATUS_CODES.get(response.status_code, f"HTTP{response.status_code}"), ""
    if response.content:
        try:
            root = ElementTree.fromstring(response.content)
        except ElementTree.ParseError:
            message = response.text[:200]
        else:
            code = root.findtext("Code") or code
            message = root.findtext("Message") or ""
    return S3Error(operation, key, response.status_code, code, message)


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
    """Objects of one bucket. Its HTTP client is made in the event loop that first uses it."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        addressing_style: AddressingStyle = "path",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
    ) -> None:
        endpoint = httpx.URL(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.host:
            raise ValueError(f"S3 endpoint must be an http(s) URL, not {endpoint_url!r}")
        self.bucket = bucket
        self._endpoint = endpoint
        self._addressing = addressing_style
        self._signer = SigV4Signer(access_key_id, secret_access_key, region)
        self._transport = transport
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def object_url(self, key: str) -> httpx.URL:
        base = self._endpoint.raw_path.decode("ascii").split("?", 1)[0].rstrip("/")
        netloc = self._endpoint.netloc.decode("ascii")
        if self._addressing == "virtual":
            netloc = f"{self.bucket}.{netloc}"
            path = f"{base}/{uri_encode(key, keep_slashes=True)}"
        else:
            path = f"{base}/{uri_encode(self.bucket)}/{uri_encode(key, keep_slashes=True)}"
        return httpx.URL(f"{self._endpoint.scheme}://{netloc}{path}")

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            transport = self._transport or httpx.AsyncHTTPTransport(retries=2)
            self._client = httpx.AsyncClient(transport=transport, timeout=self._timeout)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(
        self, method: str, key: str, headers: dict[str, str], content: bytes = b"", *, stream: bool = False
    ) -> httpx.Response:
        http = self._http()
        request = http.build_request(method, self.object_url(key), headers=headers, content=content or None)
        self._signer.sign(request, hashlib.sha256(content).hexdigest() if content else EMPTY_SHA256)
        return await http.send(request, stream=stream)

    async def put_object(self, key: str, data: bytes, content_type: str) -> None:
        headers = {
            "content-type": content_type,
            "content-md5": base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
            "x-amz-sdk-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        }
        response = await self._send("PUT", key, headers, data)
        if not response.is_success:
            raise _error_from(response, "PUT", key)

    async def put_object_file(self, key: str, path: Path, content_type: str, *, sha256: str | None = None) -> None:
        """Upload the file at `path` in one PUT whose body streams from the file (bounded memory).
        `sha256` (hex) is the file's digest if the caller has it; MD5 is computed here either way."""
        md5_digest, sha256_digest, size = await asyncio.to_thread(_file_digests, path, need_sha256=sha256 is None)
        payload_sha256 = sha256 or sha256_digest.hex()
        headers = {
            "content-type": content_type,
            "content-length": str(size),
            "content-md5": base64.b64encode(md5_digest).decode(),
            "x-amz-sdk-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(payload_sha256)).decode(),
        }
        http = self._http()
        request = http.build_request("PUT", self.object_url(key), headers=headers, content=_file_chunks(path))
        self._signer.sign(request, payload_sha256)
        response = await http.send(request)
        if not response.is_success:
            raise _error_from(response, "PUT", key)

    async def get_object(self, key: str) -> bytes | None:
        response = await self._send("GET", key, {"x-amz-checksum-mode": "ENABLED", "accept-encoding": "identity"})
        if response.status_code != 200:
            error = _error_from(response, "GET", key)
            if error.code in _MISSING:
                return None
            raise error
        expected = _checksum_of(response.headers.get("x-amz-checksum-sha256"))
        if expected is not None and hashlib.sha256(response.content).digest() != expected:
            raise S3IntegrityError("GET", key, 200, "ChecksumMismatch", "the body differs from the stored SHA-256")
        return response.content

    async def head_object(self, key: str) -> ObjectInfo | None:
        response = await self._send("HEAD", key, {"x-amz-checksum-mode": "ENABLED"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _error_from(response, "HEAD", key)
        return ObjectInfo(
            size=int(response.headers.get("content-length", "0")),
            content_type=response.headers.get("content-type"),
            etag=response.headers.get("etag"),
            checksum_sha256=response.headers.get("x-amz-checksum-sha256"),
        )

    async def open_object(self, key: str, byte_range: str | None = None) -> ObjectStream | None:
        """The object as a stream, or one byte range of it (`bytes=0-99`, `bytes=100-`, `bytes=-100`)."""
        headers = {"accept-encoding": "identity"}
        if byte_range and _SINGLE_RANGE.fullmatch(byte_range.strip()):
            headers["range"] = byte_range.strip()
        response = await self._send("GET", key, headers, stream=True)
        if response.status_code in (200, 206):
            kept = {name: response.headers[name] for name in _OBJECT_HEADERS if name in response.headers}
            return ObjectStream(response.status_code, kept, _chunks(response), response.aclose)
        await response.aread()
        await response.aclose()
        if response.status_code == 416:
            info = await self.head_object(key)
            if info is None:
                return None
            return ObjectStream(416, {"content-range": f"bytes */{info.size}"}, _no_chunks(), _nothing_to_close)
        error = _error_from(response, "GET", key)
        if error.code in _MISSING:
            return None
        raise error


def _file_digests(path: Path, *, need_sha256: bool) -> tuple[bytes, bytes, int]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with path.open("rb") as reader:
        while chunk := reader.read(_FILE_CHUNK):
            md5.update(chunk)
            if need_sha256:
                sha256.update(chunk)
            size += len(chunk)
    return md5.digest(), sha256.digest(), size


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    reader = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(reader.read, _FILE_CHUNK):
            yield chunk
    finally:
        reader.close()


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()
