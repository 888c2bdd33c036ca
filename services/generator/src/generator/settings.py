from pydantic import Field

from aistudio_providers import ProviderSettings
from aistudio_runtime import ServiceSettings
from aistudio_runtime.settings import KieCallbackSettings


class GeneratorSettings(ServiceSettings, KieCallbackSettings, ProviderSettings):
    # Callbacks cannot reach a laptop; polling works either way.
    kie_callbacks_enabled: bool = True
    kie_submit_limit: int = Field(default=20, ge=1)
    kie_submit_window_seconds: float = Field(default=10.0, gt=0)
    # Kept clear of KIE's window edge on top of holding each slot until its answer (see ratelimit.py).
    # The hold from the answer alone already covers every instant KIE may have counted the request;
    # the margin is for KIE's clock and timestamp granularity. Each second of it costs a tenth of the
    # limit (the account runs at window / (window + margin + answer time) of it): 1 s capped us at 91 %.
    kie_submit_margin_seconds: float = Field(default=0.25, ge=0)
    # Each attempt must hold a rate-limit slot, so the generator schedules retries itself: one try per call.
    kie_retry_attempts: int = Field(default=1, ge=1)
    # The model each plan gets (cost by tier): KIE_VEO_MODEL_FREE, KIE_VEO_MODEL_PRO, KIE_FLUX_MODEL_*.
    kie_veo_model_free: str = "veo3_fast"
    kie_veo_model_pro: str = "veo3"
    kie_flux_model_free: str = "flux-kontext-pro"
    kie_flux_model_pro: str = "flux-kontext-max"
    reference_image_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # An image whose KIE submission is in doubt waits this long for KIE's callback, then goes to Gemini.
    in_flight_grace_seconds: float = Field(default=120.0, gt=0)
    # Refused submissions are tried this many times (within the deadline) before the job fails.
    submit_max_attempts: int = Field(default=12, ge=1)
    # A pro user's share of KIE's limit against a free user's 1 when both have jobs waiting (domain/fairness.py).
    fair_pro_weight: float = Field(default=2.0, ge=1.0)
    # How long a KIE task typically takes once started: a waiting job's ready estimate adds it to its start.
    typical_video_seconds: float = Field(default=150.0, ge=0)
    typical_image_seconds: float = Field(default=40.0, ge=0)
    # Jobs one replica works on at once.
    submit_concurrency: int = Field(default=32, ge=1)
    # A worker holds a claimed job this long, renewed while it works; a dead worker's jobs are recovered after it.
    job_lease_seconds: float = Field(default=30.0, gt=0)
    # The KIE credits cross-check (credit_check.py): off by default, it costs a KIE call per reading.
    kie_credit_check: bool = False
    kie_credit_check_seconds: float = Field(default=300.0, gt=0)
    # Credits of drift ignored (rounding of a decimal balance); a task costs 5 or more.
    kie_credit_drift_tolerance: float = Field(default=1.0, ge=0)
