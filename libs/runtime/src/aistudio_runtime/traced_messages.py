"""What every consumed message carries into its handler: the asset it is about, bound to every log
line (and to the span), and, when tracing is on, the trace from its `traceparent` header.

FastStream's own NATS telemetry middleware does the W3C extraction on consume and the injection on
publish; it is added only when a tracer provider is installed, so an untraced service does no work.
"""

import json
from typing import Any

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware

from . import tracing


class BindAsset(BaseMiddleware):
    """Binds the event's `asset_id` (or its correlation id, which is the asset's) for the handler."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        asset_id = _asset_of(msg.body)
        if asset_id is None:
            return await call_next(msg)
        with tracing.bind_asset(asset_id):
            return await call_next(msg)


def _asset_of(body: Any) -> str | None:
    if not isinstance(body, bytes | bytearray) or not body.startswith(b"{"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("asset_id") or data.get("correlation_id") if isinstance(data, dict) else None
    return str(value) if value else None


def middlewares() -> list[Any]:
    """Outermost first: the trace, then the asset binding (so it lands on the consume span)."""
    found: list[Any] = [NatsTelemetryMiddleware()] if tracing.enabled() else []
    return [*found, BindAsset]
