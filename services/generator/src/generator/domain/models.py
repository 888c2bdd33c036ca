"""Which of a provider's models a job is made with: cost follows the user's plan.

Veo3 and Flux Kontext each offer a cheaper and a better model; 4o Image and Gemini have one.
The plan is the one stamped on the request at acceptance, so a plan change later never changes
a job already accepted; a request from before the stamp is made with the free plan's model.
"""

from dataclasses import dataclass

from aistudio_contracts import Plan, Provider


@dataclass(frozen=True, slots=True)
class ModelsByPlan:
    veo_free: str
    veo_pro: str
    flux_free: str
    flux_pro: str

    def model_for(self, provider: Provider, plan: Plan | None) -> str | None:
        pro = plan is Plan.PRO
        if provider is Provider.KIE_VEO3:
            return self.veo_pro if pro else self.veo_free
        if provider is Provider.KIE_FLUX_KONTEXT:
            return self.flux_pro if pro else self.flux_free
        return None


def variants_task_size(variants: int) -> int:
    """How many images to ask 4o Image for, for a batch of `variants` (KIE accepts 1, 2 or 4):
    three are made as a task of four, and the fourth image is a spare that is not delivered. One
    paid task is cheaper and simpler than two (2 + 1), and every variant then shares its fate."""
    if variants <= 1:
        return 1
    return 2 if variants == 2 else 4
