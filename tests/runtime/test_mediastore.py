"""Media custody in an S3-compatible store: a real server (moto) that checks every signature."""

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from aistudio_runtime.mediastore import S3MediaStore
from aistudio_runtime.s3 import S3Error, S3IntegrityError
from gateway.app import create_app as create_gateway
from gateway.auth import mint_token
from gateway.settings import GatewaySettings

from ..support.services import TEST_JWT_SECRET, common_env, serving
from .conftest import S3Server

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
MakeStore = Callable[..., S3MediaStore]


async def test_media_put_in_the_bucket_comes_back_byte_for_byte_with_its_content_type(make_s3_store: MakeStore) -> None:
    store = make_s3_store()
    await store.put("2026/11/image.png", PNG, "image/png")

    assert await store.get("2026/11/image.png") == PNG
    info = await store.head("2026/11/image.png")
    assert info is not None and (info.size, info.content_type) == (len(PNG), "image/png")


async def test_the_store_keeps_the_sha256_the_upload_declared(make_s3_store: MakeStore) -> None:
    store = make_s3_store()
    await store.put("2026/11/sum.png", PNG, "image/png")

    info = await store.head("2026/11/sum.png")
    assert info is not None
    assert info.checksum_sha256 == base64.b64encode(hashlib.sha256(PNG).digest()).decode()


def _flip_the_last_byte(request: Any, **_: Any) -> None:
    """Flips one byte of an upload after it was signed, as a bad link or proxy might."""
    body = request.body.read() if hasattr(request.body, "read") else bytes(request.body)  # botocore's BytesIO
    request.body = body[:-1] + bytes([body[-1] ^ 0xFF])


async def test_a_body_corrupted_on_its_way_to_the_store_never_comes_back_as_media(make_s3_store: MakeStore) -> None:
    corrupting = make_s3_store(event_handlers={"before-send.s3.PutObject": _flip_the_last_byte})
    try:
        await corrupting.put("2026/11/bad.png", PNG, "image/png")
    except S3Error as refused:  # AWS and MinIO check Content-MD5 and the signed payload hash at once
        assert refused.status == 400
        return
    # moto keeps what it got, with the checksum we declared: reading it back catches the difference.
    with pytest.raises(S3IntegrityError, match="ChecksumMismatch"):
        await make_s3_store(prefix=corrupting.prefix).get("2026/11/bad.png")


async def test_a_missing_object_reads_as_none(make_s3_store: MakeStore) -> None:
    store = make_s3_store()
    assert await store.get("2026/11/missing.png") is None
    assert await store.head("2026/11/missing.png") is None
    assert await store.open("2026/11/missing.png") is None


async def test_signatures_hold_for_a_prefix_and_keys_with_slashes_and_unusual_characters(
    make_s3_store: MakeStore,
) -> None:
    store = make_s3_store(prefix="/tenants/acme studio/")
    key = "2026/11/a b+c=d~é/ünïcode (1).png"
    await store.put(key, PNG, "image/png")
    assert await store.get(key) == PNG

    unprefixed = make_s3_store(prefix="")
    assert await unprefixed.get(f"tenants/acme studio/{key}") == PNG


async def test_wrong_credentials_fail_with_an_error_that_says_what_to_check(
    make_s3_store: MakeStore, s3_server: S3Server
) -> None:
    wrong_secret = make_s3_store(secret_access_key="not-the-secret")
    with pytest.raises(S3Error, match=r"SignatureDoesNotMatch.*check S3_SECRET_ACCESS_KEY") as failure:
        await wrong_secret.put("2026/11/x.png", PNG, "image/png")
    assert failure.value.status == 403

    unknown_key = make_s3_store(access_key_id="AKIAUNKNOWNKEY000000")
    with pytest.raises(S3Error, match=r"InvalidAccessKeyId.*check S3_ACCESS_KEY_ID"):
        await unknown_key.get("2026/11/x.png")
    assert "not-the-secret" not in str(failure.value)


async def test_a_missing_bucket_is_an_error_not_a_missing_object(make_s3_store: MakeStore) -> None:
    store = make_s3_store(bucket="no-such-bucket")
    with pytest.raises(S3Error, match=r"NoSuchBucket.*check S3_BUCKET"):
        await store.get("2026/11/x.png")


async def test_one_byte_range_is_streamed_as_partial_content(make_s3_store: MakeStore) -> None:
    store = make_s3_store()
    await store.put("2026/11/clip.mp4", PNG, "video/mp4")

    stream = await store.open("2026/11/clip.mp4", "bytes=100-199")
    assert stream is not None and stream.status == 206
    assert stream.headers["content-range"] == f"bytes 100-199/{len(PNG)}"
    assert b"".join([chunk async for chunk in stream.chunks]) == PNG[100:200]

    whole = await store.open("2026/11/clip.mp4", "bytes=0-1,5-9")  # several ranges: the whole object
    assert whole is not None and whole.status == 200
    assert b"".join([chunk async for chunk in whole.chunks]) == PNG

    beyond = await store.open("2026/11/clip.mp4", f"bytes={len(PNG) + 10}-")
    assert beyond is not None and (beyond.status, beyond.headers) == (416, {"content-range": f"bytes */{len(PNG)}"})

    abandoned = await store.open("2026/11/clip.mp4")  # the reader went away before the first chunk
    assert abandoned is not None
    await abandoned.aclose()
    assert await store.get("2026/11/clip.mp4") == PNG


# --- the gateway serving media held in the bucket ------------------------------------------------


def _s3_gateway_settings(nats_url: str, database_url: str, media_dir: Path, s3: S3Server) -> GatewaySettings:
    values: dict[str, Any] = {
        **common_env(nats_url, database_url),
        "auth_jwt_secret": TEST_JWT_SECRET,
        "media_dir": str(media_dir),
        "media_store": "s3",
        "s3_endpoint_url": s3.url,
        "s3_bucket": s3.bucket,
        "s3_access_key_id": s3.access_key_id,
        "s3_secret_access_key": s3.secret_access_key,
        "s3_prefix": "served",
    }
    return GatewaySettings(_env_file=None, **values)  # type: ignore[call-arg]


async def _ready_asset(database_url: str, user_id: str, key: str, content_type: str, media_type: str) -> str:
    """An asset as the gateway records it once GenerationCompleted arrived."""
    asset_id = uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO gateway.media_assets (id, user_id, provider, requested_provider, type, prompt, aspect_ratio,"
            " status, result_storage_key, result_content_type, completed_at)"
            " VALUES ($1, $2, 'kie-veo3', 'kie-veo3', $3, 'a clip', '16:9', 'ready', $4, $5, now())",
            asset_id,
            user_id,
            media_type,
            key,
            content_type,
        )
    finally:
        await conn.close()
    return str(asset_id)


def _path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


async def test_the_gateway_streams_an_asset_held_in_s3_through_its_signed_link(
    nats_url: str, database_url: str, media_dir: Path, s3_server: S3Server, make_s3_store: MakeStore
) -> None:
    settings = _s3_gateway_settings(nats_url, database_url, media_dir, s3_server)
    video = bytes(range(256)) * 1000
    await make_s3_store(prefix="served").put("2026/11/clip.mp4", video, "video/mp4")
    asset_id = await _ready_asset(database_url, "alice", "2026/11/clip.mp4", "video/mp4", "video")
    missing_id = await _ready_asset(database_url, "alice", "2026/11/gone.mp4", "video/mp4", "video")

    app = create_gateway(settings)
    headers = {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, 'alice')}"}
    try:
        async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            asset = (await client.get(f"/api/ai/media/{asset_id}", headers=headers)).json()
            assert asset["resultUrl"].startswith(f"{settings.public_base_url}/media/{asset_id}?expires=")
            link = _path_of(asset["resultUrl"])

            whole = await client.get(link)
            assert whole.status_code == 200, whole.text
            assert whole.content == video
            assert whole.headers["content-type"] == "video/mp4"
            assert whole.headers["content-length"] == str(len(video))
            assert whole.headers["accept-ranges"] == "bytes"

            part = await client.get(link, headers={"Range": "bytes=1000-1999"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 1000-1999/{len(video)}"
            assert part.content == video[1000:2000]

            tampered = await client.get(link.replace("signature=", "signature=0"))
            assert tampered.status_code == 403

            gone = (await client.get(f"/api/ai/media/{missing_id}", headers=headers)).json()["resultUrl"]
            assert (await client.get(_path_of(gone))).status_code == 404
    finally:
        await app.state.gateway.media.aclose()
