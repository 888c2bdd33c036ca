"""Media is stored under the type its bytes are, and only for the image and video types we serve."""

import pytest

from aistudio_providers import UnsupportedMediaTypeError, verified_media_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 8
WEBP = b"RIFF\0\0\0\0WEBPVP8 "
MP4 = b"\0\0\0\x18ftypmp42\0\0\0\0"
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"


@pytest.mark.parametrize(
    ("head", "declared", "stored"),
    [
        (PNG, "image/png", "image/png"),
        (JPEG, "image/jpg", "image/jpeg"),
        (WEBP, "image/webp", "image/webp"),
        (MP4, "video/mp4", "video/mp4"),
        (WEBM, "video/webm", "video/webm"),
        (PNG, "application/octet-stream", "image/png"),
        (JPEG, "image/png", "image/jpeg"),  # mislabelled within the family: stored as what it is
    ],
)
def test_an_allowed_type_is_stored_as_what_its_bytes_are(head: bytes, declared: str, stored: str) -> None:
    assert verified_media_type(head, declared) == stored


@pytest.mark.parametrize(
    ("head", "declared"),
    [
        (b"<html><script>alert(1)</script>", "image/png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b"GIF89a" + b"\0" * 8, "image/gif"),
        (PNG, "video/mp4"),  # an image passed off as a video
        (b"\0" * 16, "video/mp4"),
    ],
)
def test_bytes_of_no_stored_type_or_of_another_family_are_refused(head: bytes, declared: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        verified_media_type(head, declared)


def test_a_narrower_allow_list_is_respected() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        verified_media_type(MP4, "video/mp4", allowed=("image/png", "image/jpeg"))
