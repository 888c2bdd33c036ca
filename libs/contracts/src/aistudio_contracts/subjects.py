"""Every subject, the stream that persists events, and its settings: spelled here and nowhere else."""

from dataclasses import dataclass
from datetime import timedelta

EVENTS_PREFIX = "aistudio.events"
RPC_PREFIX = "aistudio.rpc"

# Persisted events (JetStream).
GENERATION_REQUESTED = f"{EVENTS_PREFIX}.generation.requested"
TASK_STARTED = f"{EVENTS_PREFIX}.generation.task-started"
GENERATION_COMPLETED = f"{EVENTS_PREFIX}.generation.completed"
GENERATION_FAILED = f"{EVENTS_PREFIX}.generation.failed"
CAPTION_GENERATED = f"{EVENTS_PREFIX}.caption.generated"
CAPTION_FAILED = f"{EVENTS_PREFIX}.caption.failed"
CAPTION_SETTINGS_CHANGED = f"{EVENTS_PREFIX}.caption.settings-changed"
PROVIDER_CALLBACK_RECEIVED = f"{EVENTS_PREFIX}.provider.callback-received"
SUBSCRIPTION_CHANGED = f"{EVENTS_PREFIX}.billing.subscription-changed"
GENERATION_SETTLED = f"{EVENTS_PREFIX}.generation.settled"
GENERATION_CANCELLED = f"{EVENTS_PREFIX}.generation.cancelled"
MESSAGE_DEAD_LETTERED = f"{EVENTS_PREFIX}.ops.message-dead-lettered"
POST_REQUESTED = f"{EVENTS_PREFIX}.post.requested"
POST_SCHEDULED = f"{EVENTS_PREFIX}.post.scheduled"
POST_PUBLISHED = f"{EVENTS_PREFIX}.post.published"
POST_FAILED = f"{EVENTS_PREFIX}.post.failed"
POST_CANCELLED = f"{EVENTS_PREFIX}.post.cancelled"
LATE_WEBHOOK_RECEIVED = f"{EVENTS_PREFIX}.provider.late-webhook-received"
QUEUE_JOINED = f"{EVENTS_PREFIX}.queue.joined"
QUEUE_ADVANCED = f"{EVENTS_PREFIX}.queue.advanced"
PROVIDER_COST_RECORDED = f"{EVENTS_PREFIX}.cost.recorded"

# Messages that exhausted their deliveries, kept for an operator: `<DLQ_PREFIX>.<durable>`.
DLQ_PREFIX = "aistudio.dlq"

# Request/reply (core NATS; the caller waits for the answer, nothing is persisted).
USAGE_RESERVE = f"{RPC_PREFIX}.usage.reserve"
USAGE_RELEASE = f"{RPC_PREFIX}.usage.release"
USAGE_SUMMARY = f"{RPC_PREFIX}.usage.summary"
USAGE_SET_PLAN = f"{RPC_PREFIX}.usage.set-plan"
CAPTION_GENERATE = f"{RPC_PREFIX}.caption.generate"
PUBLISHER_ACCOUNTS = f"{RPC_PREFIX}.publisher.accounts"
PUBLISHER_CANCEL = f"{RPC_PREFIX}.publisher.cancel"

# Queue groups for request/reply responders, so replicas share the requests.
USAGE_QUEUE = "usage"
CAPTIONER_QUEUE = "captioner"
PUBLISHER_QUEUE = "publisher"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    name: str
    subjects: tuple[str, ...]
    # Publishes carrying the same Nats-Msg-Id within this window are stored once.
    duplicate_window: timedelta
    # Events are kept this long for replay and for new consumers; Postgres is the system of record.
    max_age: timedelta
    file_storage: bool = True
    replicas: int = 1


EVENTS_STREAM = StreamSettings(
    name="AISTUDIO_EVENTS",
    subjects=(f"{EVENTS_PREFIX}.>",),
    duplicate_window=timedelta(minutes=10),
    max_age=timedelta(days=14),
)

# Dead letters are kept longer than events: an operator may look at them after a holiday.
DEAD_LETTER_STREAM = StreamSettings(
    name="AISTUDIO_DLQ",
    subjects=(f"{DLQ_PREFIX}.>",),
    duplicate_window=timedelta(minutes=10),
    max_age=timedelta(days=30),
)
