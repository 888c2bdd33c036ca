"""AWS Signature Version 4 against AWS's published examples; S3 settings checked at start-up."""

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from aistudio_runtime import ServiceSettings
from aistudio_runtime.mediastore import LocalMediaStore, S3MediaStore, create_media_store
from aistudio_runtime.s3 import EMPTY_SHA256, S3Client, SigV4Signer

# The credentials of AWS's Signature Version 4 test suite (region us-east-1, service "service").
SUITE_SIGNER = SigV4Signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service")
SUITE_HEADERS = {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"}


def test_the_get_vanilla_example_of_the_aws_test_suite_signs_as_published() -> None:
    authorization = SUITE_SIGNER.authorization(
        "GET", httpx.URL("https://example.amazonaws.com/"), SUITE_HEADERS, EMPTY_SHA256
    )
    assert authorization == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_query_parameters_are_signed_in_sorted_order() -> None:
    # get-vanilla-query-order-key-case
    url = httpx.URL("https://example.amazonaws.com/?Param2=value2&Param1=value1")
    authorization = SUITE_SIGNER.authorization("GET", url, SUITE_HEADERS, EMPTY_SHA256)
    assert authorization.endswith("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")


def test_a_ranged_s3_get_signs_as_in_the_s3_documentation() -> None:
    # The "GET Object" example of S3's SigV4 header-signing documentation: virtual-host bucket, a range.
    client = S3Client(
        endpoint_url="https://s3.amazonaws.com",
        bucket="examplebucket",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        addressing_style="virtual",
    )
    request = httpx.Request("GET", client.object_url("test.txt"), headers={"Range": "bytes=0-9"})
    SigV4Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1").sign(
        request, EMPTY_SHA256, now=datetime(2013, 5, 24, tzinfo=UTC)
    )
    assert str(request.url) == "https://examplebucket.s3.amazonaws.com/test.txt"
    assert request.headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_object_urls_are_path_style_by_default_and_encode_each_key_once() -> None:
    client = S3Client(
        endpoint_url="http://127.0.0.1:9000/", bucket="media", access_key_id="id", secret_access_key="secret"
    )
    url = client.object_url("ai studio/2026/11/é+~.png")
    assert url.raw_path == b"/media/ai%20studio/2026/11/%C3%A9%2B~.png"
    assert url.netloc == b"127.0.0.1:9000"


@pytest.mark.parametrize("key", ["", "/abs.png", "a//b.png", "../escape.png", "a/./b.png", "a/b/..", "line\nbreak"])
def test_keys_that_could_address_another_object_are_refused(key: str) -> None:
    store = S3MediaStore(
        S3Client(endpoint_url="http://127.0.0.1:9000", bucket="b", access_key_id="i", secret_access_key="s"),
        prefix="p",
    )
    with pytest.raises(ValueError, match="invalid media key"):
        store.object_key(key)


def test_choosing_s3_without_bucket_or_keys_fails_at_start_up_and_names_what_is_missing() -> None:
    with pytest.raises(ValidationError) as failure:
        ServiceSettings(_env_file=None, media_store="s3", s3_bucket="media", s3_secret_access_key="  ")  # type: ignore[call-arg]
    assert "MEDIA_STORE=s3 needs S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY" in str(failure.value)
    with pytest.raises(ValidationError, match="S3_ENDPOINT_URL must be an http"):
        ServiceSettings(  # type: ignore[call-arg]
            _env_file=None,
            media_store="s3",
            s3_endpoint_url="minio:9000",
            s3_bucket="media",
            s3_access_key_id="id",
            s3_secret_access_key="secret",
        )


def test_the_store_is_chosen_by_configuration(tmp_path: Path) -> None:
    local = create_media_store(ServiceSettings(_env_file=None), tmp_path)  # type: ignore[call-arg]
    assert isinstance(local, LocalMediaStore) and local.root == tmp_path.resolve()

    settings = ServiceSettings(  # type: ignore[call-arg]
        _env_file=None,
        media_store="s3",
        s3_region="eu-west-1",
        s3_bucket="media",
        s3_access_key_id="id",
        s3_secret_access_key="secret",
        s3_prefix="/studio/",
    )
    s3 = create_media_store(settings, tmp_path)
    assert isinstance(s3, S3MediaStore) and s3.local_path("2026/11/a.png") is None
    assert s3.object_key("2026/11/a.png") == "studio/2026/11/a.png"
    assert str(s3.client.object_url("studio/a.png")) == "https://s3.eu-west-1.amazonaws.com/media/studio/a.png"
