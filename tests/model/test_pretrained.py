"""Quality bars of the shipped models (captioner/pretrained), on held-out generated scenes.

The scenes are the first images of the test split of `captioner synth --seed 0`, made in memory
(synth.split_scene), the data the shipped models were trained on but images they never saw. The bars
(issue 4): every object's colour and shape named in at least 90 % of images; for each word that
names an object, at least half of its attention inside that object's box on average, and the
attention's peak inside the box at least 80 % of the time. The hard-attention model is held to
the attention bars and to a naming bar 5 points lower (see BARS). The shipped sentinel model is also
held to issue 23's sentinel bar: a higher mean sentinel share on function words than on object words.
Each model captions the scenes once per module (`captions`): the bars and the sentinel's test read
the same captions.
"""

from types import SimpleNamespace

import pytest

from captioner.data import synth
from captioner.evaluation.evaluate import grounding_report
from captioner.evaluation.sentinel_shares import mean_shares
from captioner.modeldir.directory import SHAPES_VARIANTS
from captioner.pipeline import Captioner, shipped_models

N_SCENES = 200
BARS = {
    # the bars, which the shapes (soft attention) model reaches (measured: 0.935, 0.623, 0.816)
    "shapes": {"objects_named_rate": 0.90, "mass_in_box": 0.50, "peak_in_box_rate": 0.80},
    # the hard model (straight-through Gumbel-softmax training), decoded as by default (expected
    # context): issue 13's goal, within 5 points of the soft bar, and the attention bars (measured:
    # 0.875, 0.699, 0.836; reading the argmax location 0.765, 0.694, 0.928; the REINFORCE-trained
    # hard model before it, argmax: 0.445, 0.338, 0.786)
    "hard": {"objects_named_rate": 0.85, "mass_in_box": 0.50, "peak_in_box_rate": 0.80},
    # the attention lab's shipped variants (issue 23; their cards: captioner/pretrained/shapes-*/README.md):
    # each names at least 80 % of the objects and puts at least 40 % of a word's attention in its
    # object's box (location-based attention, which reads no image, is not shipped: warm-started the
    # same way it named 25.5 %; docs/attention-lab.md)
    **{name: {"objects_named_rate": 0.80, "mass_in_box": 0.40} for name in SHAPES_VARIANTS},
}


@pytest.fixture(scope="module")
def scenes():
    return [synth.split_scene("test", i, seed=0) for i in range(N_SCENES)]


@pytest.fixture(scope="module")
def captions(scenes):
    """captions(model): the shipped model's results on the scenes (beam 3), captioned once per module."""
    done = {}

    def of(model: str) -> list:
        if model not in done:
            done[model] = Captioner.from_pretrained(model, device="cpu").caption([s.image for s in scenes], beam_size=3)
        return done[model]

    return of


def records(scenes) -> list:
    """The scenes as the grounding functions read them: their objects, of the "synth" data set."""
    return [SimpleNamespace(objects=[o.to_json() for o in s.objects], dataset="synth") for s in scenes]


def quality(results: list, scenes) -> dict:
    report = grounding_report(records(scenes), results, [s.image.size for s in scenes])
    return {"objects_named_rate": report["objects_named_rate"], **report["attention"]}


@pytest.mark.parametrize("model", list(BARS))
def test_shipped_model_meets_the_quality_bars(model, scenes, captions):
    assert model in shipped_models()
    measured = quality(captions(model), scenes)
    assert measured["count"] > N_SCENES  # the maps of hundreds of object words were scored
    short = {k: round(measured[k], 3) for k, bar in BARS[model].items() if measured[k] < bar}
    assert not short, f"{model}: below the bars {BARS[model]}: {short} (all: {measured})"


def test_the_shipped_sentinel_leans_on_its_sentinel_more_for_function_words(scenes, captions):
    # Issue 23's sentinel bar: "a", "of", "and", "the" come from the language model more than the
    # words that name an object do (docs/attention-lab.md has the figures).
    shares = mean_shares(records(scenes), captions("shapes-sentinel"))
    assert shares["function_words"] > N_SCENES and shares["object_words"] > N_SCENES  # hundreds of each kind averaged
    assert shares["function"] > shares["object"], shares
