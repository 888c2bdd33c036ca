"""KIE.ai: Veo3 video, 4o Image and Flux Kontext as paid asynchronous tasks."""

from .callback_body import parse_callback
from .client import USER_AGENT, KieClient, RetryPolicy
from .endpoints import ENDPOINTS, submit_body
from .models import CallbackInfo, KieSubmit, TaskFailure, TaskState, TaskStatus
from .record import parse_complete_time, parse_record_info

__all__ = [
    "ENDPOINTS",
    "USER_AGENT",
    "CallbackInfo",
    "KieClient",
    "KieSubmit",
    "RetryPolicy",
    "TaskFailure",
    "TaskState",
    "TaskStatus",
    "parse_callback",
    "parse_complete_time",
    "parse_record_info",
    "submit_body",
]
