"""A closed-loop HTTP/1.1 load generator, run as its own process: `python -m bench.loadgen SPEC_JSON`.

Each of `concurrency` connections sends one request, reads the whole answer, and sends the next
(keep-alive). A minimal client on raw asyncio streams (and uvloop) costs a few tens of
microseconds per request, so on a small machine the server, not the client, is what is measured.
Prints one JSON object: per-request latencies and statuses inside the measured window.
"""

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


def build_request(host: str, port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def worker(
    spec: dict[str, Any], index: int, start_at: float, measure_from: float, stop_at: float, out: list[Any]
) -> None:
    url = urlsplit(spec["url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    headers = dict(spec.get("headers", {}))
    tokens = spec.get("tokens")
    if tokens:
        headers["Authorization"] = f"Bearer {tokens[index % len(tokens)]}"
    body = json.dumps(spec["body"]).encode() if spec.get("body") is not None else b""
    request = build_request(host, port, spec.get("method", "POST"), url.path or "/", headers, body)
    reader, writer = await asyncio.open_connection(host, port)
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            writer.write(request)
            try:
                status = await read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                status = 0
            ended = time.perf_counter()
            if began >= measure_from and ended <= stop_at:
                out.append((ended - began, status))
    finally:
        writer.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(spec["concurrency"])
    now = time.perf_counter()
    start_at = now + 0.3  # every connection open before the clock starts
    measure_from = start_at + float(spec.get("warmup_seconds", 1.0))
    stop_at = measure_from + float(spec["duration_seconds"])
    out: list[Any] = []
    await asyncio.gather(*(worker(spec, i, start_at, measure_from, stop_at, out) for i in range(concurrency)))
    return {
        "concurrency": concurrency,
        "window_seconds": stop_at - measure_from,
        "latencies": [round(latency, 6) for latency, _ in out],
        "statuses": [status for _, status in out],
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is pinned
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    if spec.get("out"):
        # A file, not a pipe: a level's figures can be far larger than a pipe's buffer, and a large
        # print to a pipe came back cut at 128 KiB once (JSONDecodeError in the throughput scenario).
        with open(spec["out"], "w") as out:
            json.dump(result, out)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
