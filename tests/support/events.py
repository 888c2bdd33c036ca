"""Events published straight into JetStream, as another service would: each with its event id as
Nats-Msg-Id, so that the stream's duplicate window treats a republish as the same message."""

import nats

from aistudio_contracts.envelope import Event


async def publish(nats_url: str, *events: Event) -> None:
    client = await nats.connect(nats_url)
    try:
        jetstream = client.jetstream()
        for event in events:
            await jetstream.publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)})
    finally:
        await client.close()
