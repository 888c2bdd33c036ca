"""The AsyncAPI document of every AI Studio event and request/reply exchange.

Generated from the contracts themselves, so other internal teams can subscribe without reading
our code: `make asyncapi` runs `faststream docs gen aistudio_runtime.asyncapi:app`.
"""

from faststream import FastStream
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from aistudio_contracts import ALL_EVENTS, CaptionReply, QuotaReservation, UsageSummary, subjects
from aistudio_contracts.messages import GenerateCaption, GetUsage, ReleaseQuota, ReserveQuota, SetPlan
from aistudio_contracts.subjects import EVENTS_STREAM

PUBLISHED_BY = {
    "GenerationRequested": "gateway",
    "TaskStarted": "generator",
    "GenerationCompleted": "generator (synchronous providers) and poller",
    "GenerationFailed": "generator, poller and gateway (stuck assets)",
    "CaptionGenerated": "captioner",
    "CaptionFailed": "captioner",
    "CaptionSettingsChanged": "gateway",
    "ProviderCallbackReceived": "gateway",
    "SubscriptionChanged": "a billing service",
    "ProviderCostRecorded": "generator",
}

RPC = (
    (ReserveQuota, QuotaReservation, "usage"),
    (ReleaseQuota, UsageSummary, "usage"),
    (GetUsage, UsageSummary, "usage"),
    (SetPlan, UsageSummary, "usage"),
    (GenerateCaption, CaptionReply, "captioner"),
)


def build() -> FastStream:
    broker = NatsBroker(description=f"Events persist in the JetStream stream {EVENTS_STREAM.name}.")
    for event in ALL_EVENTS:
        doc = " ".join((event.__doc__ or "").split())
        broker.publisher(
            event.subject,
            schema=event,
            stream=EVENTS_STREAM.name,
            title=event.__name__,
            description=f"{doc} Published by: {PUBLISHED_BY.get(event.__name__, '?')}. "
            "Header Nats-Msg-Id carries event_id.",
        )
    for request, reply, responder in RPC:
        doc = " ".join((request.__doc__ or "").split())

        @broker.subscriber(
            request.subject,
            queue=subjects.USAGE_QUEUE if responder == "usage" else subjects.CAPTIONER_QUEUE,
            title=f"{request.__name__} (request/reply, answered by {responder})",
            description=f"{doc} Replies with {reply.__name__}.",
        )
        async def _documented(message: request) -> reply:  # type: ignore[valid-type]
            raise NotImplementedError

    return FastStream(
        broker,
        specification=AsyncAPI(
            broker,
            title="AI Studio events",
            version="1.0.0",
            description="Every event of the AI Studio generation lifecycle, and the request/reply exchanges.",
        ),
    )


app = build()
