"""Test harness: real NATS JetStream and Postgres, fresh for every test that asks for them."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support.infra import Infra, start_infra


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    yield from start_infra(tmp_path_factory.mktemp("infra"))


@pytest.fixture
def nats_url(infra: Infra) -> Iterator[str]:
    url, server = infra.new_nats()
    try:
        yield url
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def database_url(infra: Infra) -> Iterator[str]:
    url = infra.new_database()
    try:
        yield url
    finally:
        infra.drop_database(url)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path
