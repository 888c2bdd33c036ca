"""One classification of provider failures that the rest of the system acts on.

Every generation is paid for, so the question that matters after a failed call is not
"what went wrong" but "could that call have created a paid task?". `ErrorKind` answers it;
`FailureReason` (from the contracts) says what to tell the user.
"""

from collections.abc import Mapping
from enum import StrEnum

from aistudio_contracts import FailureReason


class ErrorKind(StrEnum):
    # Nothing billable happened: the submit was refused before any work began (429, 455, 550,
    # connection refused, a CDN block), or a read-only call (status check, download link)
    # failed in passing. Repeating the same call is safe.
    REFUSED = "refused"
    # The call may have created a paid task we cannot see (read timeout after sending, 5xx or
    # an unreadable 2xx on submit), or the task's outcome cannot be known. Never repeat blindly.
    AMBIGUOUS = "ambiguous"
    # The request itself is unacceptable (content policy, validation, unusable input image).
    # Terminal: the same request will fail again.
    USER = "user"
    # The account needs an operator (bad key, no credits, feature disabled, wrong endpoint).
    ACCOUNT = "account"
    # The provider answered, clearly, that it failed and gave no task: nothing is in flight and
    # nothing was billed, and it was not the request's fault. Another provider may take the job;
    # the same call is not repeated as it is.
    FAILED = "failed"


_DEFAULT_MESSAGES: dict[FailureReason, str] = {
    FailureReason.CONTENT_POLICY: "The provider declined this request under its content policy.",
    FailureReason.INVALID_INPUT: "The provider could not accept this prompt or reference image.",
    FailureReason.PROVIDER_ERROR: "The provider failed to produce a result.",
    FailureReason.PROVIDER_UNAVAILABLE: "The provider is busy or unavailable; please try again shortly.",
    FailureReason.INSUFFICIENT_CREDITS: "Generation is paused: the provider account is out of credits.",
    FailureReason.TIMEOUT: "The provider took too long to answer.",
    FailureReason.UNKNOWN_OUTCOME: "The provider did not confirm whether the request was accepted.",
    FailureReason.INTERNAL_ERROR: "Something went wrong on our side while talking to the provider.",
}

# Provider messages end up in front of users; keep them short and single-line.
_DETAIL_MAX_CHARS = 200


def default_message(reason: FailureReason) -> str:
    return _DEFAULT_MESSAGES[reason]


def user_message(reason: FailureReason, detail: str | None = None) -> str:
    """The default sentence for `reason`, with the provider's own words appended when useful."""
    base = _DEFAULT_MESSAGES[reason]
    cleaned = " ".join((detail or "").split())[:_DETAIL_MAX_CHARS]
    if not cleaned or reason not in (FailureReason.CONTENT_POLICY, FailureReason.INVALID_INPUT):
        return base
    return f"{base} The provider said: {cleaned.rstrip('.')}."


class ProviderError(Exception):
    """A classified failure of a provider call; safe to log and to show (`user_message`)."""

    def __init__(
        self,
        kind: ErrorKind,
        reason: FailureReason,
        user_message: str | None = None,
        *,
        provider_code: int | str | None = None,
        http_status: int | None = None,
        provider_message: str | None = None,
        retryable: bool | None = None,
        usage: Mapping[str, int] | None = None,
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.user_message = user_message or default_message(reason)
        self.provider_code = provider_code
        self.http_status = http_status
        # The provider's raw words, for logs; may be technical, never contains our secrets.
        self.provider_message = provider_message
        self._retryable = retryable
        # The provider answered and billed the call although it failed (a blocked or words-only
        # Gemini answer, a filtered caption): its usage ({"input_tokens", "output_tokens"}), so
        # the cost ledger records what was paid. None when nothing was reported.
        self.usage = dict(usage) if usage else None
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        """Whether repeating the same call is safe and might succeed.

        True for REFUSED. Synchronous providers (Gemini, OpenAI) may also mark an AMBIGUOUS
        error retryable: there is no task to look up, and a repeat costs one more call at most.
        """
        if self._retryable is not None:
            return self._retryable
        return self.kind is ErrorKind.REFUSED

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"provider code {self.provider_code}" if self.provider_code is not None else "",
                f"HTTP {self.http_status}" if self.http_status is not None else "",
                f"provider said {self.provider_message!r}" if self.provider_message else "",
            )
            if part
        )
        suffix = f" ({where})" if where else ""
        return f"{self.kind}/{self.reason}: {self.user_message}{suffix}"

    def __repr__(self) -> str:
        return f"ProviderError({self})"


def answer_lost(error: ProviderError) -> bool:
    """A call that reached the provider and whose answer never came back (a read timeout, a dropped
    connection): no status and no provider code, yet not refused before sending. Paid all the same."""
    return error.kind is ErrorKind.AMBIGUOUS and error.http_status is None and error.provider_code is None
