"""What goes into a KIE submit and what comes out of a status check or a callback."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aistudio_contracts import FailureReason


@dataclass(frozen=True, slots=True)
class KieSubmit:
    prompt: str
    aspect_ratio: str
    reference_image_url: str | None = None
    # Built with `callbacks.callback_url`; KIE POSTs the outcome there (a hint, never the verdict).
    callback_url: str | None = None
    # The model to ask for (Veo3 and Flux offer several; 4o Image has one): None means our default.
    model: str | None = None
    # 4o Image only: how many images one task makes (KIE accepts 1, 2 or 4).
    n_variants: int = 1


class TaskState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """Why a task ended without a result, in the same terms as `ProviderError`."""

    reason: FailureReason
    user_message: str
    provider_code: int | str | None = None
    provider_message: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_id: str
    state: TaskState
    result_urls: tuple[str, ...] = ()
    failure: TaskFailure | None = None
    # 0.0 .. 1.0 when the provider reports it (4o Image does).
    progress: float | None = None
    complete_time: datetime | None = None
    # The provider's `data` object as received, for logs and investigations.
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state is not TaskState.PENDING


@dataclass(frozen=True, slots=True)
class CallbackInfo:
    """What a callback body claims. Only a hint: the poller confirms with a status check."""

    task_id: str | None
    state: TaskState | None
    provider_code: int | None = None
    result_urls: tuple[str, ...] = ()
