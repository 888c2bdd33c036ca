"""The load a scenario drives through the gateway, and the record of every answer it got.

Every exchange with the gateway (the burst, the plan changes, the polling while the system
settles, the media downloads) is kept with its time, so that an answer can be judged against
the moment the fault was in force.
"""

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from aistudio_contracts import PROVIDERS, Provider
from gateway.auth import mint_token

from ..support.services import TEST_JWT_SECRET

ADMIN = "chaos-admin"
# Generous: a request the gateway does not answer in this long counts as unanswered.
REQUEST_TIMEOUT_SECONDS = 60.0

_SUBJECTS = (
    "a lighthouse on a cliff at dusk",
    "a paper boat on a rainy street",
    "a fox in a snowy birch forest",
    "a neon city seen from a rooftop",
    "a bowl of ramen, studio lighting",
    "a hot air balloon over a canyon",
)


def token(user_id: str, role: str | None = None) -> str:
    return mint_token(TEST_JWT_SECRET, user_id, role=role)


def auth(user_id: str, role: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user_id, role)}"}


@dataclass(frozen=True, slots=True)
class Exchange:
    sent: float  # time.monotonic() when the request left
    at: float  # when the answer (or the failure) came
    method: str
    path: str
    status: int | None  # None: no HTTP answer at all
    failure: str | None = None  # "connect" (nothing listening), "timeout", or the exception's name


@dataclass
class Journal:
    """Every exchange of the scenario, from the burst's thread and the main thread alike."""

    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges)


def _failure(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return type(exc).__name__


class Gateway:
    """A synchronous client of the gateway that writes every exchange into the journal."""

    def __init__(self, url: str, journal: Journal) -> None:
        self.url = url
        self.journal = journal
        self._http = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS)

    def request(
        self, method: str, path: str, user: str, role: str | None = None, **kwargs: Any
    ) -> httpx.Response | None:
        sent = time.monotonic()
        try:
            response = self._http.request(method, path, headers=auth(user, role), **kwargs)
        except httpx.HTTPError as exc:
            self.journal.add(Exchange(sent, time.monotonic(), method, path, None, _failure(exc)))
            return None
        self.journal.add(Exchange(sent, time.monotonic(), method, path, response.status_code))
        return response

    def get_absolute(self, url: str) -> int | None:
        """A link the gateway handed out (a signed media URL): no bearer token."""
        sent = time.monotonic()
        try:
            response = self._http.get(url)
        except httpx.HTTPError as exc:
            self.journal.add(Exchange(sent, time.monotonic(), "GET", url, None, _failure(exc)))
            return None
        self.journal.add(Exchange(sent, time.monotonic(), "GET", url, response.status_code))
        return response.status_code

    def set_plan(self, user: str, plan: str) -> None:
        response = self.request("PUT", f"/api/admin/users/{user}/plan", ADMIN, role="admin", json={"plan": plan})
        if response is None or response.status_code != 200:
            detail = "no answer" if response is None else f"{response.status_code} {response.text}"
            raise RuntimeError(f"could not make {user} {plan}: {detail}")

    def gallery(self, user: str) -> list[dict[str, Any]] | None:
        """Every asset of the user, all pages; None if any page did not come back."""
        assets: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            response = self.request("GET", "/api/ai/media", user, params=params)
            if response is None or response.status_code != 200:
                return None
            page = response.json()
            assets.extend(page["assets"])
            cursor = page.get("nextCursor")
            if not cursor:
                return assets

    def usage(self, user: str) -> dict[str, Any] | None:
        response = self.request("GET", "/api/usage", user)
        return response.json() if response is not None and response.status_code == 200 else None

    def close(self) -> None:
        self._http.close()


@dataclass(frozen=True, slots=True)
class Job:
    user: str
    provider: Provider
    prompt: str  # unique per job: the simulator counts KIE submits per prompt

    def body(self) -> dict[str, str]:
        return {"prompt": self.prompt, "provider": self.provider.value, "type": PROVIDERS[self.provider].media_type}


@dataclass
class Outcome:
    job: Job
    status: int | None = None
    failure: str | None = None
    asset_id: str | None = None
    sent_at: float = 0.0


def plan_burst(
    scenario: str, pro_users: list[str], free_user: str, jobs_per_provider: int, free_requests: int
) -> list[Job]:
    """Every provider from every pro user, interleaved, with the free user's requests spread among them."""
    providers = list(Provider)
    pro: list[Job] = []
    counter = itertools.count()
    for round_ in range(jobs_per_provider):
        for provider in providers:
            user = pro_users[(round_ + providers.index(provider)) % len(pro_users)]
            n = next(counter)
            pro.append(Job(user, provider, f"chaos {scenario} job {n}: {_SUBJECTS[n % len(_SUBJECTS)]}"))
    free = [
        Job(free_user, providers[i % len(providers)], f"chaos {scenario} free {i}: {_SUBJECTS[i % len(_SUBJECTS)]}")
        for i in range(free_requests)
    ]
    jobs: list[Job] = []
    step = max(1, len(pro) // max(1, len(free)))
    for i, job in enumerate(pro):
        if free and i % step == 0:
            jobs.append(free.pop(0))
        jobs.append(job)
    return jobs + free


class Burst:
    """Sends the jobs at an even pace over `seconds`, open-loop (a slow answer delays no later
    request), from its own thread, so that the main thread can inject the fault meanwhile."""

    def __init__(self, url: str, jobs: list[Job], seconds: float, journal: Journal) -> None:
        self.url = url
        self.outcomes = [Outcome(job) for job in jobs]
        self.seconds = seconds
        self.journal = journal
        self.sent = 0
        self.started_at = 0.0
        self.finished_at = 0.0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="chaos-burst", daemon=True)

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._thread.start()

    def accepted(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == 202)

    def join(self) -> None:
        self._thread.join(REQUEST_TIMEOUT_SECONDS + self.seconds + 60)
        if self._thread.is_alive():
            raise RuntimeError("the burst did not finish")

    async def _run(self) -> None:
        interval = self.seconds / max(1, len(self.outcomes))
        async with httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            tasks = []
            for i, outcome in enumerate(self.outcomes):
                delay = self.started_at + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self._send(http, outcome)))
                self.sent = i + 1
            await asyncio.gather(*tasks)
        self.finished_at = time.monotonic()

    async def _send(self, http: httpx.AsyncClient, outcome: Outcome) -> None:
        path = "/api/ai/generate-media"
        outcome.sent_at = time.monotonic()
        try:
            response = await http.post(path, json=outcome.job.body(), headers=auth(outcome.job.user))
        except httpx.HTTPError as exc:
            outcome.failure = _failure(exc)
            self.journal.add(Exchange(outcome.sent_at, time.monotonic(), "POST", path, None, outcome.failure))
            return
        outcome.status = response.status_code
        self.journal.add(Exchange(outcome.sent_at, time.monotonic(), "POST", path, response.status_code))
        if response.status_code == 202:
            outcome.asset_id = str(response.json()["id"])
