"""A real S3-compatible server for the media store: moto's (S3, IAM, STS), in a thread, checking every signature."""

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from aistudio_devstack import free_port
from aistudio_runtime.mediastore import S3MediaStore
from aistudio_runtime.s3 import S3Client

# The bucket, and what the credential tests need: temporary keys, and a role to assume by web identity.
_ACTIONS = ["s3:*", "sts:AssumeRole", "iam:CreateRole", "iam:PutRolePolicy"]
_ALLOW_S3 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": _ACTIONS, "Resource": "*"}]}
)


@dataclass(frozen=True)
class S3Server:
    url: str
    bucket: str
    access_key_id: str
    secret_access_key: str

    def client(self, **overrides: Any) -> S3Client:
        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "bucket": self.bucket,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **overrides,
        }
        return S3Client(**options)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        # Set up with signature checks off, then turn them on for everything that follows.
        setup = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "setup"}
        iam = boto3.client("iam", aws_secret_access_key="setup", **setup)
        iam.create_user(UserName="media")
        iam.put_user_policy(UserName="media", PolicyName="s3", PolicyDocument=_ALLOW_S3)
        key = iam.create_access_key(UserName="media")["AccessKey"]
        boto3.client("s3", aws_secret_access_key="setup", **setup).create_bucket(Bucket="media")
        httpx.post(f"{url}/moto-api/reset-auth", content=b"0").raise_for_status()
        yield S3Server(url, "media", key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        httpx.post(f"{url}/moto-api/reset-auth", content=b"inf")
        server.stop()


@pytest.fixture
async def make_s3_store(s3_server: S3Server) -> AsyncIterator[Callable[..., S3MediaStore]]:
    """Stores over the test bucket; each test gets a prefix of its own unless it names one."""
    stores: list[S3MediaStore] = []
    own_prefix = f"test-{uuid4().hex[:8]}"

    def make(prefix: str | None = None, **client_overrides: Any) -> S3MediaStore:
        store = S3MediaStore(s3_server.client(**client_overrides), own_prefix if prefix is None else prefix)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()
