"""What uvicorn's access log may show of a request target: no query value, no callback token."""

import logging

import pytest

from gateway.accesslog import REDACTED, RedactRequestTargets, redact_path


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/api/ai/media/events?ticket=abc123", f"/api/ai/media/events?ticket={REDACTED}"),
        ("/api/ai/media/events?access_token=eyJ.x.y", f"/api/ai/media/events?access_token={REDACTED}"),
        (
            "/media/8f1c?expires=1700000000&signature=deadbeef",
            f"/media/8f1c?expires={REDACTED}&signature={REDACTED}",
        ),
        (
            "/api/providers/kie/callback/1b4e28ba-2fa1-11d2-883f-0016d3cca427/c0ffee",
            f"/api/providers/kie/callback/1b4e28ba-2fa1-11d2-883f-0016d3cca427/{REDACTED}",
        ),
        ("/api/ai/media", "/api/ai/media"),
        ("/search?opaque", f"/search?opaque={REDACTED}"),
    ],
)
def test_a_request_target_is_logged_without_its_secrets(target: str, logged: str) -> None:
    assert redact_path(target) == logged


def test_the_filter_rewrites_uvicorns_access_record() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None)
    record.args = ("127.0.0.1:5000", "GET", "/media/x?signature=secret", "1.1", 200)
    assert RedactRequestTargets().filter(record)
    assert "secret" not in record.getMessage()
    assert record.getMessage().endswith('"GET /media/x?signature=[redacted] HTTP/1.1" 200')
