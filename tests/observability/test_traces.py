"""One trace per generation: the POST, the outbox, NATS, the generator, KIE's calls, the poller's
checks and download, the caption and the catalog, all under one trace id (in-memory exporter)."""

from collections import defaultdict

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aistudio_contracts import subjects

from .conftest import Services


async def test_one_generation_is_one_trace_across_every_service(
    spans: InMemorySpanExporter, services: Services
) -> None:
    asset_id = await services.generate("traced-user", prompt="a paper boat", provider="kie-4o-image", type="image")
    assert (await services.wait_settled("traced-user", asset_id))["status"] == "ready"

    async def settled_everywhere() -> bool:
        names = {span.name for span in spans.get_finished_spans()}
        return f"{subjects.GENERATION_SETTLED} process" in names and f"{subjects.CAPTION_GENERATED} process" in names

    await services.wait_for("the settlement and the caption consumed", settled_everywhere)
    finished = spans.get_finished_spans()
    post = next(span for span in finished if span.name == "HTTP POST /api/ai/generate-media")
    assert post.context is not None
    trace_id = post.context.trace_id
    in_trace = [span for span in finished if span.context is not None and span.context.trace_id == trace_id]
    names = {span.name for span in in_trace}
    for expected in [
        f"{subjects.GENERATION_REQUESTED} process",  # the generator's consumer, from the gateway's outbox
        "generator.work",  # the job, worked later from the table
        "kie /api/v1/gpt4o-image/generate",  # the paid call
        f"{subjects.TASK_STARTED} process",  # the poller and the catalog
        "poller.check",
        "kie /api/v1/gpt4o-image/record-info",
        "poller.download",
        f"{subjects.GENERATION_COMPLETED} process",  # the captioner and the catalog
        "openai chat.completions",
        f"{subjects.CAPTION_GENERATED} process",
        f"{subjects.GENERATION_SETTLED} process",  # usage commits the unit
    ]:
        assert expected in names, f"{expected} not in {sorted(names)}; all: {sorted({s.name for s in finished})}"
    # Every span about the asset is in the generation's trace, except what KIE's callback started: an
    # HTTP request from outside, with no trace of ours, is a trace of its own.
    by_trace: dict[int, list[str]] = defaultdict(list)
    for span in finished:
        if (span.attributes or {}).get("aistudio.asset_id") == asset_id and span.context is not None:
            by_trace[span.context.trace_id].append(span.name)
    assert trace_id in by_trace
    roots = {
        span.context.trace_id: span.name
        for span in finished
        if span.parent is None and span.context is not None and span.context.trace_id in by_trace
    }
    for other in set(by_trace) - {trace_id}:
        assert roots.get(other) == "HTTP POST /api/providers/kie/callback/{asset_id}/{token}", by_trace[other]


async def test_an_incoming_traceparent_is_continued_by_the_gateway(
    spans: InMemorySpanExporter, services: Services
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await services.api.get("/healthz", headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
    assert response.status_code == 200
    served = [span for span in spans.get_finished_spans() if span.name == "HTTP GET /healthz"]
    assert served and served[-1].context is not None
    assert format(served[-1].context.trace_id, "032x") == caller_trace
