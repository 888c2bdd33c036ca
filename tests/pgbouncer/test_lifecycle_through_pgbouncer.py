"""The whole lifecycle suite (tests/lifecycle) again, with every service's DATABASE_URL pointing at
pgbouncer in transaction mode and DATABASE_DIRECT_URL at Postgres (see conftest.py)."""

import pytest

from ..lifecycle import test_generation_lifecycle as lifecycle

pytestmark = pytest.mark.integration

# Every lifecycle test, collected here a second time under this folder's fixtures.
globals().update({name: getattr(lifecycle, name) for name in dir(lifecycle) if name.startswith("test_")})
