"""aistudio-ops: the operator's view of a running AI Studio, against DATABASE_URL and NATS_URL.

    aistudio-ops asset <asset id>          the timeline from every service's tables
    aistudio-ops stuck                     work past its expected time, outboxes not draining
    aistudio-ops dlq list|show|replay|drop [SEQ]
    aistudio-ops consumers                 lag, pending and redeliveries per durable
    aistudio-ops usage <user id>           plan, months, recent reservations
    aistudio-ops replay-outbox [--schema S] [--asset ID] [--published]
    aistudio-ops costs [--asset ID] [--user ID]   every paid call: delivered, failed or wasted

Add --json for scripts. `make ops ARGS="stuck"` runs it from the checkout.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from typing import Any, TextIO
from uuid import UUID

import asyncpg
import nats

from aistudio_runtime import deadletters
from aistudio_runtime.settings import ServiceSettings

from . import queries
from .timeline import SCHEMAS, asset_timeline


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aistudio-ops", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--database-url", help="instead of DATABASE_URL")
    parser.add_argument("--nats-url", help="instead of NATS_URL")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("asset", help="one asset's timeline").add_argument("asset_id", type=UUID)
    commands.add_parser("stuck", help="work past its expected time")
    dlq = commands.add_parser("dlq", help="the dead-letter stream")
    dlq.add_argument("action", choices=("list", "show", "replay", "drop"))
    dlq.add_argument("sequence", nargs="?", type=int)
    commands.add_parser("consumers", help="lag and pending per durable consumer")
    commands.add_parser("usage", help="a user's quota").add_argument("user_id")
    replay = commands.add_parser("replay-outbox", help="publish outbox rows now")
    replay.add_argument("--schema", choices=SCHEMAS)
    replay.add_argument("--asset", type=UUID, dest="asset_id")
    replay.add_argument("--published", action="store_true", help="also rows already published (needs --asset)")
    costs = commands.add_parser("costs", help="the provider cost ledger")
    costs.add_argument("--asset", type=UUID, dest="asset_id")
    costs.add_argument("--user", dest="user_id")
    return parser


def table(rows: list[dict[str, Any]], out: TextIO, empty: str) -> None:
    if not rows:
        print(empty, file=out)
        return
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), file=out)
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=out)


async def _database(args: argparse.Namespace, work: Any) -> Any:
    conn = await asyncpg.connect(args.database_url, timeout=10)
    try:
        return await work(conn)
    finally:
        await conn.close()


async def _nats(args: argparse.Namespace, work: Any) -> Any:
    client = await nats.connect(args.nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        return await work(client.jetstream())
    finally:
        await client.close()


async def execute(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command, printing to `out`; the exit status."""
    args = _parser().parse_args(argv)
    if args.database_url is None or args.nats_url is None:
        settings = ServiceSettings()
        args.database_url = args.database_url or settings.database_url
        args.nats_url = args.nats_url or settings.nats_url
    if args.command == "dlq":
        return await _dlq(args, out)
    if args.command == "replay-outbox" and args.published and args.asset_id is None:
        print("--published sends events again: name the asset with --asset", file=sys.stderr)
        return 2
    command: Any = _COMMANDS[args.command]
    result: Any = await command(args)
    if args.json:
        print(json.dumps(result, indent=2, default=str), file=out)
    else:
        show: Any = _HUMAN[args.command]
        show(result, out)
    return 0


async def _asset(args: argparse.Namespace) -> list[dict[str, Any]]:
    entries = await _database(args, lambda conn: asset_timeline(conn, args.asset_id))
    return [entry.as_dict() for entry in entries]


async def _stuck(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [item.as_dict() for item in await _database(args, queries.stuck)]


async def _consumers(args: argparse.Namespace) -> list[dict[str, Any]]:
    return await _nats(args, queries.consumers)  # type: ignore[no-any-return]


async def _usage(args: argparse.Namespace) -> dict[str, Any]:
    return await _database(args, lambda conn: queries.usage(conn, args.user_id))  # type: ignore[no-any-return]


async def _replay_outbox(args: argparse.Namespace) -> list[dict[str, Any]]:
    async def work(conn: asyncpg.Connection) -> list[dict[str, Any]]:
        return await _nats(  # type: ignore[no-any-return]
            args,
            lambda js: queries.replay_outbox(
                conn, js, schema=args.schema, asset_id=args.asset_id, published=args.published
            ),
        )

    return await _database(args, work)  # type: ignore[no-any-return]


async def _costs(args: argparse.Namespace) -> dict[str, Any]:
    return await _database(  # type: ignore[no-any-return]
        args, lambda conn: queries.costs(conn, asset_id=args.asset_id, user_id=args.user_id)
    )


def _print_costs(result: dict[str, Any], out: TextIO) -> None:
    table(result["totals"], out, "no paid calls")
    print("", file=out)
    table(result["calls"], out, "")


async def _dlq(args: argparse.Namespace, out: TextIO) -> int:
    if args.action != "list" and args.sequence is None:
        print(f"dlq {args.action} needs the dead letter's sequence", file=sys.stderr)
        return 2
    # The runtime's own command prints to stdout; `out` gets it here so that scripts and tests see one stream.
    with redirect_stdout(out):
        return await deadletters.run(args.nats_url, args.action, args.sequence, as_json=args.json)


def _print_usage(result: dict[str, Any], out: TextIO) -> None:
    print(f"user {result['user_id']}  plan {result['plan']}", file=out)
    table(result["months"], out, "no usage yet")
    print("", file=out)
    table(result["recent_reservations"], out, "no reservations")


_COMMANDS = {
    "asset": _asset,
    "stuck": _stuck,
    "consumers": _consumers,
    "usage": _usage,
    "replay-outbox": _replay_outbox,
    "costs": _costs,
}
_HUMAN = {
    "asset": lambda rows, out: table(rows, out, "nothing known about this asset"),
    "stuck": lambda rows, out: table(rows, out, "nothing stuck"),
    "consumers": lambda rows, out: table(rows, out, "no consumers"),
    "usage": _print_usage,
    "replay-outbox": lambda rows, out: table(rows, out, "nothing to publish"),
    "costs": _print_costs,
}


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(execute(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
