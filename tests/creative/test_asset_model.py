"""The asset records the model that made it: the KIE task's model by plan, Gemini's own name."""

import pytest

from .conftest import Creative

pytestmark = pytest.mark.integration


async def test_the_asset_json_names_the_model_that_made_it(system: Creative) -> None:
    flux = await system.generate(
        "mona", prompt="A red kite over a green hill", provider="kie-flux-kontext", type="image"
    )
    gemini = await system.generate("mona", prompt="A blue kite over a grey sea", provider="gemini-flash", type="image")
    assert flux["model"] is None  # not submitted yet when the request is answered

    flux_done = await system.wait_finished("mona", flux["id"], within=60)
    gemini_done = await system.wait_finished("mona", gemini["id"], within=60)

    assert (flux_done["status"], flux_done["model"]) == ("ready", "flux-kontext-pro")
    assert (gemini_done["status"], gemini_done["model"]) == ("ready", "gemini-2.5-flash-image")
