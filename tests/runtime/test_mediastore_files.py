"""Storing media from a file (a streamed download): locally and in an S3-compatible store."""

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from aistudio_runtime.mediastore import LocalMediaStore, S3MediaStore

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
# Larger than one read of the upload, so the body really streams in pieces.
VIDEO = bytes(range(256)) * (5 * 1024 * 4 + 3)

MakeStore = Callable[..., S3MediaStore]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def test_a_file_is_copied_into_the_local_store_and_the_source_is_left_alone(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    source = write(tmp_path / "download.png", PNG)

    await store.put_file("2026/12/a.png", source, "image/png")

    assert await store.get("2026/12/a.png") == PNG
    assert source.read_bytes() == PNG
    assert store.local_path("2026/12/a.png") is not None


def test_a_key_outside_the_local_store_is_refused(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    with pytest.raises(ValueError):
        store._path("../escape.png")


@pytest.mark.integration
async def test_a_file_uploaded_to_the_bucket_comes_back_byte_for_byte_with_its_checksum(
    make_s3_store: MakeStore, tmp_path: Path
) -> None:
    store = make_s3_store()
    source = write(tmp_path / "clip.mp4", VIDEO)

    await store.put_file("2026/12/clip.mp4", source, "video/mp4")

    assert await store.get("2026/12/clip.mp4") == VIDEO
    info = await store.head("2026/12/clip.mp4")
    assert info is not None and (info.size, info.content_type) == (len(VIDEO), "video/mp4")
    assert info.checksum_sha256 == base64.b64encode(hashlib.sha256(VIDEO).digest()).decode()


@pytest.mark.integration
async def test_an_upload_given_the_downloads_sha256_is_accepted_by_the_store(
    make_s3_store: MakeStore, tmp_path: Path
) -> None:
    store = make_s3_store()
    source = write(tmp_path / "image.png", PNG)

    await store.put_file("2026/12/image.png", source, "image/png", sha256=hashlib.sha256(PNG).hexdigest())

    assert await store.get("2026/12/image.png") == PNG
