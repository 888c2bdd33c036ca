"""S3 settings checked at start-up, and every way of holding credentials: keys, temporary keys with
a session token, and botocore's chain (environment keys, a web identity role as on Kubernetes),
each against a real S3-compatible server (moto) that checks every signature."""

import json
from pathlib import Path
from uuid import uuid4

import boto3
import httpx
import pytest
from pydantic import ValidationError

from aistudio_runtime import ServiceSettings
from aistudio_runtime.mediastore import LocalMediaStore, S3MediaStore, create_media_store, local_media_warning
from aistudio_runtime.s3 import S3Client, S3Error

from .conftest import S3Server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
_ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"],
            }
        ],
    }
)
_ALLOW_S3 = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


def _settings(**values: object) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "/abs.png", "a//b.png", "../escape.png", "a/./b.png", "a/b/..", "line\nbreak"])
def test_keys_that_could_address_another_object_are_refused(key: str) -> None:
    store = S3MediaStore(S3Client(endpoint_url="http://127.0.0.1:9000", bucket="b"), prefix="p")
    with pytest.raises(ValueError, match="invalid media key"):
        store.object_key(key)


def test_choosing_s3_without_a_bucket_or_with_half_a_key_pair_fails_at_start_up_and_names_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="MEDIA_STORE=s3 needs S3_BUCKET"):
        _settings(media_store="s3")
    with pytest.raises(ValidationError, match="MEDIA_STORE=s3 needs S3_SECRET_ACCESS_KEY"):
        _settings(media_store="s3", s3_bucket="media", s3_access_key_id="id", s3_secret_access_key="  ")
    with pytest.raises(ValidationError, match="S3_ENDPOINT_URL must be an http"):
        _settings(media_store="s3", s3_endpoint_url="minio:9000", s3_bucket="media")


def test_a_bucket_without_keys_is_accepted_for_the_credential_chain(tmp_path: Path) -> None:
    store = create_media_store(_settings(media_store="s3", s3_bucket="media", s3_region="eu-west-1"), tmp_path)
    assert isinstance(store, S3MediaStore)
    assert (store.client.endpoint_url, store.client.region) == (None, "eu-west-1")


def test_the_store_is_chosen_by_configuration(tmp_path: Path) -> None:
    local = create_media_store(_settings(), tmp_path)
    assert isinstance(local, LocalMediaStore) and local.root == tmp_path.resolve()

    settings = _settings(
        media_store="s3", s3_bucket="media", s3_access_key_id="id", s3_secret_access_key="secret", s3_prefix="/studio/"
    )
    s3 = create_media_store(settings, tmp_path)
    assert isinstance(s3, S3MediaStore) and s3.local_path("2026/11/a.png") is None
    assert s3.object_key("2026/11/a.png") == "studio/2026/11/a.png"


def test_local_media_in_a_replicated_or_clustered_configuration_is_warned_about() -> None:
    assert local_media_warning(_settings()) is None
    assert local_media_warning(_settings(media_store="s3", s3_bucket="m", stream_replicas=3)) is None
    replicated = local_media_warning(_settings(replicas_hint=2))
    assert replicated is not None and "REPLICAS_HINT=2" in replicated and "MEDIA_STORE=s3" in replicated
    clustered = local_media_warning(_settings(nats_url="nats://a:4222,nats://b:4222", stream_replicas=3))
    assert clustered is not None and "STREAM_REPLICAS=3" in clustered and "2 servers" in clustered


def _iam(s3_server: S3Server) -> tuple[str, str]:
    return s3_server.access_key_id, s3_server.secret_access_key


def _role(s3_server: S3Server) -> str:
    """A role allowed to use the bucket, assumable by the test user and by web identity; its ARN."""
    access_key_id, secret = _iam(s3_server)
    iam = boto3.client(
        "iam",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
    )
    name = f"media-{uuid4().hex[:8]}"
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=_ROLE_TRUST)["Role"]["Arn"])
    iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=_ALLOW_S3)
    return arn


@pytest.mark.integration
async def test_temporary_keys_work_with_their_session_token_and_not_without_it(s3_server: S3Server) -> None:
    access_key_id, secret = _iam(s3_server)
    sts = boto3.client(
        "sts",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
    )
    temporary = sts.assume_role(RoleArn=_role(s3_server), RoleSessionName="media-test")["Credentials"]
    key = f"session/{uuid4().hex}.png"

    with_token = s3_server.client(
        access_key_id=temporary["AccessKeyId"],
        secret_access_key=temporary["SecretAccessKey"],
        session_token=temporary["SessionToken"],
    )
    without_token = s3_server.client(
        access_key_id=temporary["AccessKeyId"], secret_access_key=temporary["SecretAccessKey"]
    )
    try:
        await with_token.put_object(key, PNG, "image/png")
        assert await with_token.get_object(key) == PNG
        with pytest.raises(S3Error):
            await without_token.get_object(key)
    finally:
        await with_token.aclose()
        await without_token.aclose()


@pytest.mark.integration
async def test_without_configured_keys_the_environments_credentials_are_used(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    access_key_id, secret = _iam(s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    client = S3Client(endpoint_url=s3_server.url, bucket=s3_server.bucket)
    try:
        key = f"chain/{uuid4().hex}.png"
        await client.put_object(key, PNG, "image/png")
        assert await client.get_object(key) == PNG
    finally:
        await client.aclose()


@pytest.mark.integration
async def test_a_web_identity_role_as_on_kubernetes_is_assumed_through_the_credential_chain(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    role_arn = _role(s3_server)
    token_file = tmp_path / "token"
    token_file.write_text("a-projected-service-account-token")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ROLE_ARN", role_arn)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", s3_server.url)  # STS is moto here, as S3 is

    store = create_media_store(
        _settings(media_store="s3", s3_endpoint_url=s3_server.url, s3_bucket=s3_server.bucket, s3_prefix="role"),
        tmp_path,
    )
    assert isinstance(store, S3MediaStore)
    # AWS takes AssumeRoleWithWebIdentity unsigned (the token is the proof); moto's server wants a
    # signature on everything unless told to let the next action through.
    async with httpx.AsyncClient() as admin:
        (await admin.post(f"{s3_server.url}/moto-api/reset-auth", content=b"1")).raise_for_status()
    try:
        await store.put("2026/12/role.png", PNG, "image/png")
        assert await store.get("2026/12/role.png") == PNG
    finally:
        await store.aclose()
