"""One chaos scenario: a mixed burst, one fault in the middle of it, then every invariant at once.

The verdict states what the system did, not what we hoped: each broken invariant is listed with
its figures, and the report line is written whether the scenario passed or not.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from .load import Burst, Exchange, Gateway, Journal, Outcome, plan_burst
from .system import FREE_MONTHLY_LIMIT, GENERATION_TIMEOUT_SECONDS, ChaosSystem, settle_limit_seconds

PRO_USERS = ["chaos-pro-1", "chaos-pro-2", "chaos-pro-3"]
FREE_USER = "chaos-free"
JOBS_PER_PROVIDER = 8  # per provider, over the pro users: 32 pro jobs, 24 of them on KIE
FREE_REQUESTS = FREE_MONTHLY_LIMIT + 3
# "A few seconds" of outage, as an orchestrator restarting a crashed process would give.
DOWN_SECONDS = 3.0
# After the faulted component is back and the gateway is ready, its clients may still meet a
# broken pooled connection once; 503s that late still count as during the outage.
RECOVERY_MARGIN_SECONDS = 5.0
# The fault waits for work in flight (see Fault.busy), but no longer than this.
BUSY_WAIT_SECONDS = 30.0
USAGE_SETTLE_SECONDS = 30.0
# kill-publisher: this many posts of ready burst assets, each published by Late inside its create for
# this long, so that the publisher dies holding creates whose answers it never reads.
POSTS = 3
POST_PUBLISH_SECONDS = 6
POST_ACCOUNT = "acc_facebook"  # the simulator's; no Instagram aspect rules on whatever the burst made
# A create left open by the kill waits out its lease (POST_LEASE_SECONDS) before it is resolved.
POST_SETTLE_SECONDS = 180.0
POST_FINAL = {"published", "partial", "failed", "cancelled"}


@dataclass(frozen=True, slots=True)
class Progress:
    """What the simulator has seen so far, and how many requests the gateway has accepted."""

    stats: dict[str, Any]
    accepted: int
    late_publishing: int = 0  # posts Late is publishing inside an open create (read for posting faults only)

    @property
    def unsent(self) -> int:
        """Accepted jobs that have reached no provider yet: claimed, or waiting for a KIE slot."""
        return self.accepted - int(self.stats["submissions"]) - int(self.stats["geminiRequests"])


def _generator_busy(p: Progress) -> bool:
    # KIE tasks out, and jobs held in the generator (its rate-limit queue is full past 20 per 10 s).
    return int(p.stats["tasksCreated"]) >= 3 and p.unsent >= 3


def _poller_busy(p: Progress) -> bool:
    # Tasks take 1-3 s at the simulator: with five created, some are being followed right now.
    return int(p.stats["tasksCreated"]) >= 5


def _captioner_busy(p: Progress) -> bool:
    return int(p.stats["openaiRequests"]) >= 1


def _publisher_busy(p: Progress) -> bool:
    return p.late_publishing >= 1


def _burst_under_way(p: Progress) -> bool:
    # Requests are being reserved and stored, and jobs are on their way to the providers.
    return p.accepted >= 3 and int(p.stats["submissions"]) + int(p.stats["geminiRequests"]) >= 1


@dataclass(frozen=True)
class Fault:
    name: str
    target: str  # a service, "nats" or "postgres"
    # The gateway needs it for some answers, so a 503 is allowed while it is down (the catalog and
    # the units of quota are in Postgres; the meter is usage's answer over NATS).
    gateway_dependency: bool
    # "Mid-work": the simulator's counters show the faulted component has work in hand.
    busy: Callable[[Progress], bool]
    # Fast enough that the KIE jobs outrun KIE's 20 per 10 s and queue in the generator, long
    # enough that requests still come once the faulted component is back.
    burst_seconds: float = 10.0
    # Posts made of the burst's ready assets while it runs (a posting fault's work in hand).
    posts: int = 0


FAULTS = {
    fault.name: fault
    for fault in (
        # Longer, so that part of the burst meets the restarted gateway (it takes seconds to start).
        Fault("kill-gateway", "gateway", False, _burst_under_way, burst_seconds=20.0),
        Fault("kill-generator", "generator", False, _generator_busy),
        Fault("kill-poller", "poller", False, _poller_busy),
        Fault("kill-usage", "usage", True, _burst_under_way),
        Fault("kill-captioner", "captioner", False, _captioner_busy),
        Fault("kill-publisher", "publisher", False, _publisher_busy, posts=POSTS),
        Fault("kill-nats", "nats", True, _burst_under_way),
        Fault("restart-postgres", "postgres", True, _burst_under_way),
    )
}
SHORT = ("kill-generator", "restart-postgres")


@dataclass
class Result:
    name: str
    accepted: int = 0
    ready: int = 0
    ready_late: int = 0  # ready, but completed after the job's deadline
    errors_by_code: Counter[str] = field(default_factory=Counter)
    refused_by_status: Counter[str] = field(default_factory=Counter)
    kie_submits: int = 0
    max_submits_per_job: int = 0
    gemini_requests: int = 0
    rate_limited: int = 0
    settle_seconds: float | None = None
    busy_at_fault: bool = True
    fault_after_seconds: float = 0.0  # from the burst's first request
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations

    def row(self) -> str:
        errors = ", ".join(f"{code} {n}" for code, n in sorted(self.errors_by_code.items())) or "-"
        refused = ", ".join(f"{code} {n}" for code, n in sorted(self.refused_by_status.items())) or "-"
        settle = f"{self.settle_seconds:.1f}" if self.settle_seconds is not None else "never"
        return (
            f"| {self.name} | {'PASS' if self.passed else 'FAIL'} | {self.fault_after_seconds:.1f} | {self.accepted} "
            f"| {self.ready} ({self.ready_late} late) | {errors} "
            f"| {refused} | {self.kie_submits} (max {self.max_submits_per_job}/job) | {self.gemini_requests} "
            f"| {self.rate_limited} | {settle} |"
        )


class Simulator:
    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=30)

    def stats(self) -> dict[str, Any]:
        return dict(self._http.get("/_admin/stats").raise_for_status().json())

    def submissions(self) -> list[dict[str, Any]]:
        return list(self._http.get("/_admin/submissions").raise_for_status().json())

    def late_posts(self) -> list[dict[str, Any]]:
        return list(self._http.get("/_admin/late/posts").raise_for_status().json())

    def close(self) -> None:
        self._http.close()


@dataclass
class Posted:
    user: str
    post_id: str


class Poster:
    """Posts `count` ready assets of the burst, one post each, as soon as that many are ready, from
    its own thread and client; every exchange goes into the scenario's journal."""

    def __init__(self, url: str, journal: Journal, count: int, scenario: str) -> None:
        self.gateway = Gateway(url, journal)
        self.count = count
        self.scenario = scenario
        self.posted: list[Posted] = []
        self.refused: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="chaos-poster", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(BUSY_WAIT_SECONDS + 120)

    def _run(self) -> None:
        deadline = time.monotonic() + BUSY_WAIT_SECONDS + 60
        ready: list[tuple[str, str]] = []
        while len(ready) < self.count and time.monotonic() < deadline:
            ready = [
                (user, str(a["id"]))
                for user in PRO_USERS
                for a in self.gateway.gallery(user) or []
                if a["status"] == "ready" and a["type"] == "image"
            ]
            time.sleep(0.2)
        for n, (user, asset_id) in enumerate(ready[: self.count]):
            # Unique content: Late's 24-hour content dedup must not merge two of our requests.
            caption = f"chaos {self.scenario} post {n} [sim:publish_seconds={POST_PUBLISH_SECONDS}]"
            body = {"accountIds": [POST_ACCOUNT], "caption": caption}
            response = self.gateway.request("POST", f"/api/ai/media/{asset_id}/posts", user, json=body)
            if response is not None and response.status_code == 202:
                self.posted.append(Posted(user, str(response.json()["post"]["id"])))
            else:
                self.refused[str(response.status_code) if response is not None else "no answer"] += 1

    def close(self) -> None:
        self.gateway.close()


def run_scenario(system: ChaosSystem, fault: Fault) -> Result:
    journal = Journal()
    gateway = Gateway(system.gateway_url, journal)
    simulator = Simulator(system.simulator_url)
    poster = Poster(system.gateway_url, journal, fault.posts, fault.name) if fault.posts else None
    try:
        return _run(system, fault, gateway, simulator, journal, poster)
    finally:
        gateway.close()
        simulator.close()
        if poster is not None:
            poster.close()


def _run(
    system: ChaosSystem,
    fault: Fault,
    gateway: Gateway,
    simulator: Simulator,
    journal: Journal,
    poster: Poster | None,
) -> Result:
    result = Result(fault.name)
    for user in PRO_USERS:
        gateway.set_plan(user, "pro")
    jobs = plan_burst(fault.name, PRO_USERS, FREE_USER, JOBS_PER_PROVIDER, FREE_REQUESTS)
    burst = Burst(system.gateway_url, jobs, fault.burst_seconds, journal)
    burst.start()
    if poster is not None:
        poster.start()

    # Mid-burst and mid-work: a quarter of the requests out, and the target holding some of the work.
    while burst.sent < len(jobs) // 4:
        time.sleep(0.05)
    busy_until = time.monotonic() + BUSY_WAIT_SECONDS
    while not fault.busy(_progress(simulator, burst, poster)):
        if time.monotonic() > busy_until:
            result.busy_at_fault = False
            break
        time.sleep(0.05)
    fault_at = time.monotonic()
    result.fault_after_seconds = fault_at - burst.started_at
    try:
        _inject(system, fault)
        recovered_at = _wait_gateway_ready(system)
    except (RuntimeError, TimeoutError) as exc:
        # Nothing can settle without it: say so and stop here rather than wait out every deadline.
        burst.join()
        result.accepted = burst.accepted()
        result.violations.append(f"the system did not come back after the fault: {exc}")
        return result
    window = (fault_at, recovered_at + RECOVERY_MARGIN_SECONDS)
    burst.join()
    if poster is not None:
        poster.join()

    outcomes = burst.outcomes
    accepted = [o for o in outcomes if o.status == 202 and o.asset_id]
    result.accepted = len(accepted)
    result.refused_by_status = Counter(str(o.status or o.failure) for o in outcomes if o.status != 202)
    last_accepted = max((o.sent_at for o in accepted), default=burst.finished_at)

    expected = {o.asset_id for o in accepted if o.asset_id}
    assets, settled_at = _settle(gateway, expected, last_accepted + settle_limit_seconds())
    result.settle_seconds = (settled_at - burst.finished_at) if settled_at is not None else None
    if settled_at is None:
        still = [a["id"] for a in assets.values() if a["status"] == "processing"]
        result.violations.append(
            f"{len(still)} asset(s) still processing {settle_limit_seconds():.0f} s after the last accepted request"
            f" (deadline {system.env['GENERATION_TIMEOUT_SECONDS']} s): {still[:5]}"
        )

    _check_outcomes(result, accepted, assets)
    _check_free_user(result, gateway, accepted, assets)
    _check_media(result, gateway, assets)
    _check_provider(result, simulator, jobs)
    if poster is not None:
        _check_posts(result, gateway, simulator, poster)
    _check_answers(result, fault, journal.snapshot(), window)
    dead = system.dead()
    if dead:
        result.violations.append(f"processes not running at the end: {dead}")
    if not result.busy_at_fault:
        result.violations.append(
            f"the fault was injected without work in flight at {fault.target} (simulator never showed it busy"
            f" within {BUSY_WAIT_SECONDS:.0f} s): the scenario did not test what it names"
        )
    return result


def _progress(simulator: Simulator, burst: Burst, poster: Poster | None) -> Progress:
    publishing = 0
    if poster is not None:
        ours = {p.post_id for p in poster.posted}
        publishing = sum(
            1
            for post in simulator.late_posts()
            if post["status"] == "publishing" and (post.get("metadata") or {}).get("postId") in ours
        )
    return Progress(simulator.stats(), burst.accepted(), publishing)


def _inject(system: ChaosSystem, fault: Fault) -> None:
    if fault.target == "nats":
        system.kill_nats()
        time.sleep(DOWN_SECONDS)
        system.restart_nats()
    elif fault.target == "postgres":
        system.crash_postgres()
        time.sleep(DOWN_SECONDS)
        system.restart_postgres()
    else:
        system.kill(fault.target)
        time.sleep(DOWN_SECONDS)
        system.restart(fault.target)


def _wait_gateway_ready(system: ChaosSystem, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{system.gateway_url}/readyz", timeout=5).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the gateway's /readyz did not answer 200 within {timeout:.0f} s of the fault's end")


def _settle(gateway: Gateway, expected: set[str], deadline: float) -> tuple[dict[str, dict[str, Any]], float | None]:
    """Every asset of every chaos user, once every accepted one is listed and none is processing
    (or as they are at the deadline)."""
    assets: dict[str, dict[str, Any]] = {}
    while True:
        for user in [*PRO_USERS, FREE_USER]:
            listed = gateway.gallery(user)
            if listed is not None:
                assets.update({str(a["id"]): {**a, "user": user} for a in listed})
        if expected <= set(assets) and all(a["status"] != "processing" for a in assets.values()):
            return assets, time.monotonic()
        if time.monotonic() > deadline:
            return assets, None
        time.sleep(1.0)


def _check_outcomes(result: Result, accepted: list[Outcome], assets: dict[str, dict[str, Any]]) -> None:
    missing = [o.asset_id for o in accepted if o.asset_id not in assets]
    if missing:
        result.violations.append(f"{len(missing)} accepted job(s) not in their owner's gallery: {missing[:5]}")
    final = [assets[o.asset_id] for o in accepted if o.asset_id in assets]
    result.ready = sum(1 for a in final if a["status"] == "ready")
    result.ready_late = sum(1 for a in final if a["status"] == "ready" and _late(a))
    result.errors_by_code = Counter(str(a.get("errorCode")) for a in final if a["status"] == "error")
    not_ready = [a for a in final if a["status"] != "ready"]
    if not_ready:
        by_provider = Counter(f"{a['requestedProvider']}:{a['status']}:{a.get('errorCode')}" for a in not_ready)
        result.violations.append(
            f"{len(not_ready)} of {len(accepted)} accepted job(s) did not end ready: {dict(by_provider)}"
        )
    unseen = set(assets) - {o.asset_id for o in accepted}
    if unseen:
        # The request reached the gateway but its answer was lost with the connection.
        states = Counter(assets[i]["status"] for i in unseen)
        if states.get("processing") or states.get("error"):
            result.violations.append(f"assets created without a 202 reaching the client ended {dict(states)}")


def _late(asset: dict[str, Any]) -> bool:
    created, completed = asset.get("createdAt"), asset.get("completedAt")
    if not created or not completed:
        return False
    took = datetime.fromisoformat(completed) - datetime.fromisoformat(created)
    return took.total_seconds() > GENERATION_TIMEOUT_SECONDS


def _check_free_user(
    result: Result, gateway: Gateway, accepted: list[Outcome], assets: dict[str, dict[str, Any]]
) -> None:
    free_accepted = [o for o in accepted if o.job.user == FREE_USER]
    if len(free_accepted) > FREE_MONTHLY_LIMIT:
        result.violations.append(
            f"the free user had {len(free_accepted)} requests accepted, over the limit of {FREE_MONTHLY_LIMIT}"
        )
    ready = sum(1 for a in assets.values() if a["user"] == FREE_USER and a["status"] == "ready")
    deadline = time.monotonic() + USAGE_SETTLE_SECONDS
    usage: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        usage = gateway.usage(FREE_USER) or usage
        if usage is not None and usage["used"] == ready and usage["reserved"] == 0:
            return
        time.sleep(1.0)
    result.violations.append(
        f"the free user's usage is {usage and {k: usage[k] for k in ('used', 'reserved', 'limit')}}"
        f" with {ready} ready asset(s) (used must equal ready, reserved 0)"
    )


def _check_media(result: Result, gateway: Gateway, assets: dict[str, dict[str, Any]]) -> None:
    failures: Counter[str] = Counter()
    for asset in assets.values():
        if asset["status"] != "ready":
            continue
        url = asset.get("resultUrl")
        status = gateway.get_absolute(url) if url else None
        if status != 200:
            failures[str(status) if url else "no resultUrl"] += 1
    if failures:
        result.violations.append(f"ready assets whose media is not served: {dict(failures)}")


def _check_provider(result: Result, simulator: Simulator, jobs: list[Any]) -> None:
    stats = simulator.stats()
    result.kie_submits = int(stats["submissions"])
    result.gemini_requests = int(stats["geminiRequests"])
    result.rate_limited = int(stats["rateLimited"])
    per_prompt = {entry["prompt"]: int(entry["count"]) for entry in simulator.submissions()}
    ours = {job.prompt for job in jobs}
    result.max_submits_per_job = max((n for p, n in per_prompt.items() if p in ours), default=0)
    twice = {p: n for p, n in per_prompt.items() if p in ours and n > 1}
    if twice:
        result.violations.append(f"{len(twice)} job(s) submitted to KIE more than once: {list(twice.items())[:3]}")
    if result.rate_limited:
        result.violations.append(f"KIE answered 429 {result.rate_limited} time(s)")


def _check_posts(result: Result, gateway: Gateway, simulator: Simulator, poster: Poster) -> None:
    """Every post request accepted, published in the end, and exactly one Late post for each."""
    if len(poster.posted) < poster.count:
        missing = poster.count - len(poster.posted)
        result.violations.append(f"{missing} of {poster.count} post request(s) not accepted: {dict(poster.refused)}")
    final: dict[str, str] = {}
    deadline = time.monotonic() + POST_SETTLE_SECONDS
    while len(final) < len(poster.posted) and time.monotonic() < deadline:
        for posted in poster.posted:
            response = gateway.request("GET", f"/api/posts/{posted.post_id}", posted.user)
            if response is not None and response.status_code == 200:
                status = str(response.json()["post"]["status"])
                if status in POST_FINAL:
                    final[posted.post_id] = status
        time.sleep(1.0)
    ended = Counter(final.get(p.post_id, "unfinished") for p in poster.posted)
    if ended != Counter({"published": len(poster.posted)}):
        result.violations.append(f"posts did not all end published: {dict(ended)}")
    at_late = Counter(str((post.get("metadata") or {}).get("postId")) for post in simulator.late_posts())
    wrong = {p.post_id: at_late[p.post_id] for p in poster.posted if at_late[p.post_id] != 1}
    if wrong:
        result.violations.append(f"post request(s) without exactly one Late post (post id: Late posts): {wrong}")


def _check_answers(result: Result, fault: Fault, exchanges: list[Exchange], window: tuple[float, float]) -> None:
    """No 5xx but a 503 while a dependency of the gateway is down; no unanswered request except
    while the gateway itself is down."""

    def during(exchange: Exchange) -> bool:
        # In flight at any moment of the outage: sent before it ended, answered after it began.
        return exchange.sent <= window[1] and exchange.at >= window[0]

    wrong: Counter[str] = Counter()
    for exchange in exchanges:
        if exchange.status is None:
            if not (fault.target == "gateway" and during(exchange)):
                wrong[f"{exchange.method} {_route(exchange.path)} -> {exchange.failure}"] += 1
        elif exchange.status >= 500:
            allowed = exchange.status == 503 and fault.gateway_dependency and during(exchange)
            if not allowed:
                wrong[f"{exchange.method} {_route(exchange.path)} -> {exchange.status}"] += 1
    if wrong:
        result.violations.append(f"answers outside what the fault allows: {dict(wrong)}")


def _route(path: str) -> str:
    """A path without its ids, so that counts group by route."""
    path = path.split("?")[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].split("/", 1)[1]
    parts = path.split("/")
    return "/".join("{id}" if len(part) >= 32 or part.startswith("chaos-") else part for part in parts)
