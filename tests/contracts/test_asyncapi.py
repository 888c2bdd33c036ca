"""The AsyncAPI document other teams read is generated from the contracts and lists every event."""

from aistudio_contracts import ALL_EVENTS
from aistudio_runtime.asyncapi import build


def test_the_asyncapi_document_lists_every_event_and_its_payload() -> None:
    document = build().schema.to_specification().to_jsonable()
    channels = document["channels"]
    for event in ALL_EVENTS:
        assert event.__name__ in channels, f"{event.__name__} missing from the AsyncAPI document"
        assert channels[event.__name__]["address"] == event.subject
    payloads = document["components"]["schemas"]
    assert "GenerationRequested" in payloads and "asset_id" in payloads["GenerationRequested"]["properties"]
