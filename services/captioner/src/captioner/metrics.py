"""Caption metrics: what became of each automatic caption attempt (captioned, gave up, retried
later, already settled by another delivery) and of each on-demand request."""

from prometheus_client import Counter

CAPTIONS = Counter(
    "aistudio_captions_total", "Caption attempts by kind (automatic, on_demand) and outcome.", ["kind", "outcome"]
)
