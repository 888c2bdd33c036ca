"""The simulator's memory: tasks, files, counters, recent requests. A test tool: nothing persists.

Only touched from the server's event loop, so plain dicts suffice.
"""

import asyncio
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .config import FaultChannel, SimulatorConfig
from .files import FileStore
from .markers import Fault, Markers
from .media import VideoCache


class KieModel(StrEnum):
    VEO3 = "veo3"
    GPT4O_IMAGE = "4o-image"
    FLUX_KONTEXT = "flux-kontext"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


@dataclass
class Task:
    task_id: str
    model: KieModel
    account: str
    prompt: str
    params: dict[str, Any]
    aspect_ratio: str
    callback_url: str | None
    markers: Markers
    duration: float
    created_at: float = field(default_factory=time.time)
    created_monotonic: float = field(default_factory=time.monotonic)
    status_checks: int = 0
    # Status checks of this task being answered right now, and the most seen at once: a client
    # that shares tasks between replicas correctly never makes this exceed 1.
    checks_in_flight: int = 0
    max_concurrent_checks: int = 0
    finished_at: float | None = None
    outcome: Outcome | None = None
    # Overrides the success/fail flag a status check reports (result=unknown_state).
    raw_flag: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    result_urls: list[str] = field(default_factory=list)
    origin_urls: list[str] = field(default_factory=list)
    callbacks_sent: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    # The input images the task fetched (inputs.py), each with what it answered; None before or without any.
    inputs: list[dict[str, Any]] | None = None
    inputs_fetched: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def due(self) -> bool:
        return time.monotonic() - self.created_monotonic >= self.duration

    @property
    def progress(self) -> float:
        if self.finished_at is not None:
            return 1.0
        if self.duration <= 0:
            return 0.99
        return min(0.99, (time.monotonic() - self.created_monotonic) / self.duration)


@dataclass
class Stats:
    submissions: int = 0
    tasks_created: int = 0
    rate_limited: int = 0
    status_checks: int = 0
    callbacks_sent: int = 0
    callbacks_delivered: int = 0
    callbacks_failed: int = 0
    gemini_requests: int = 0
    openai_requests: int = 0
    # Chat completions being answered at once, and the most seen: tells concurrent callers from serial ones.
    openai_in_flight: int = 0
    openai_max_in_flight: int = 0
    files_served: int = 0
    # The code each submit was answered with (envelope code, "html", "timeout", ...).
    submit_outcomes: Counter[str] = field(default_factory=Counter)
    # What we billed, as the providers would: KIE credits by model, tokens in the usage fields we sent.
    kie_credits_by_model: dict[str, float] = field(default_factory=dict)
    # Credits taken from the balance by something other than a task (POST /_admin/kie/charge): what a
    # cross-check of the balance against our ledger must notice.
    kie_other_credits: float = 0.0
    gemini_input_tokens: int = 0
    gemini_output_tokens: int = 0
    openai_input_tokens: int = 0
    openai_output_tokens: int = 0


@dataclass(slots=True)
class RequestRecord:
    """Logged when the request arrives, so a call the client gave up on is still listed."""

    api: str
    method: str
    path: str
    query: str
    at: float = field(default_factory=time.time)
    body: bytearray = field(default_factory=bytearray)
    status: int | None = None


class RateLimiter:
    """Sliding window per API key, like KIE's account-wide 20 per 10 s."""

    def __init__(self) -> None:
        self._accepted: dict[str, deque[float]] = {}

    def admit(self, account: str, limit: int, window_seconds: float) -> bool:
        if limit <= 0:
            return True
        now = time.monotonic()
        recent = self._accepted.setdefault(account, deque())
        while recent and now - recent[0] >= window_seconds:
            recent.popleft()
        if len(recent) >= limit:
            return False
        recent.append(now)
        return True

    def clear(self) -> None:
        self._accepted.clear()


class FaultBook:
    """Decides which fault, if any, a call gets: admin `fail_next` first, then the prompt's
    marker (for `name:N`, only its first N uses per key), then the configured default."""

    def __init__(self) -> None:
        self._uses: Counter[tuple[str, str]] = Counter()

    def pick(self, config: SimulatorConfig, channel: FaultChannel, markers: Markers, key: str) -> Fault | None:
        queued = config.fail_next.get(channel)
        if queued is not None and queued.count > 0:
            queued.count -= 1
            return Fault.parse(queued.fault)
        fault = markers.fault(channel)
        if fault is None and channel in config.faults:
            fault = Fault.parse(config.faults[channel])
        if fault is None or fault.name in ("", "ok"):
            return None
        if fault.times is not None:
            used = self._uses[(channel, key)]
            self._uses[(channel, key)] = used + 1
            if used >= fault.times:
                return None
        return fault

    def clear(self) -> None:
        self._uses.clear()


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.initial_config = config.model_copy(deep=True)
        self.config = config.model_copy(deep=True)
        self.tasks: dict[str, Task] = {}
        self.files = FileStore()
        self.stats = Stats()
        self.requests: deque[RequestRecord] = deque(maxlen=500)
        self.rate_limiter = RateLimiter()
        self.faults = FaultBook()
        self.videos = VideoCache()
        self.credits = config.initial_credits
        # Submits per (model, prompt): a second one for the same job is a second paid task.
        self.submissions_by_prompt: Counter[tuple[str, str]] = Counter()
        self.background: set[asyncio.Task[None]] = set()
        # Gemini calls, newest last: the prompt and each inline image that came with it.
        self.gemini_calls: deque[dict[str, Any]] = deque(maxlen=200)
        # Bumped by reset, so a request held across a reset does not leak into the next test.
        self.generation = 0

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` in the background, holding a reference so it is not collected."""
        job: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self.background.add(job)
        job.add_done_callback(self.background.discard)

    def forget(self) -> None:
        """Drop every task and file, so old result URLs answer 404 (as KIE's do after 14 days)."""
        self.tasks.clear()
        self.files.clear()

    def reset(self) -> None:
        self.generation += 1
        for job in list(self.background):
            job.cancel()
        self.forget()
        self.config = self.initial_config.model_copy(deep=True)
        self.stats = Stats()
        self.requests.clear()
        self.rate_limiter.clear()
        self.faults.clear()
        self.credits = self.config.initial_credits
        self.submissions_by_prompt.clear()
        self.gemini_calls.clear()
