"""Quality bars of naming on the real-photo evaluation set (data/photos, 217 photos; thresholds were
chosen on data/photos-tuning only): the default model, which names objects from where it looked,
against its own decoder's words (the old default), photo by photo in docs/naming.md; and on the
generated scenes, where the decoder's words must stay.

Measured (scripts/measure_naming.py, beam 3, default thresholds, chosen on the 127 tuning photos):
objects named by a name 84/142 (59.2 %; decoder only 28) with 22 wrong names (15.5 %; decoder
only 60), a person mentioned 13/14 (decoder only 0), the place named 17/61 (27.9 %; decoder only 1).
The issue asks for 70 % of object photos and 50 % of place photos: not met since the set grew by
107 fresh photos (labelled before any model captioned them) in naming's seventh and eighth rounds;
on them alone objects 21/52, people 8/8, places 7/47 (docs/naming.md). OBJECT_BAR, PLACE_BAR and
WRONG_NAME_BAR guard what is reached.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from captioner.evaluation.photos import photo_report

ROOT = Path(__file__).resolve().parents[2]
OBJECT_BAR, PEOPLE_BAR, PLACE_BAR = 0.58, 0.8, 0.25
WRONG_NAME_BAR = 0.17  # object photos given a wrong name instead of their own
DECODER_ONLY = {"object": 0.25, "people": 0.0, "place": 0.05}  # the old default is below these (measured 0.197, 0, 0.016)


@pytest.fixture(scope="module")
def reports(one_torch_thread):
    from captioner.pipeline import Captioner

    named = Captioner.from_pretrained(device="cpu")
    decoder_only = Captioner.from_pretrained(device="cpu", naming=False)
    folder = ROOT / "data" / "photos"
    return photo_report(named, folder, beam_size=3), photo_report(decoder_only, folder, beam_size=3)


@pytest.mark.quality
def test_naming_meets_the_bars_on_real_photographs(reports):
    named, decoder_only = reports
    rates = {kind: r["rate"] for kind, r in named["by_kind"].items()}
    assert named["n_photos"] >= 100 and named["by_kind"]["people"]["n"] >= 6 and named["by_kind"]["place"]["n"] >= 10
    missed = [(p["file"], p["caption"]) for p in named["photos"] if not p["by_name"]]
    assert rates["object"] >= OBJECT_BAR and rates["people"] >= PEOPLE_BAR and rates["place"] >= PLACE_BAR, (rates, missed)
    for kind, rate in DECODER_ONLY.items():
        assert decoder_only["by_kind"][kind]["rate"] <= rate < rates[kind]
    # fewer confident wrong names than the decoder alone, and no more than measured
    wrong = named["by_kind"]["object"]["wrong_name_rate"]
    assert wrong <= WRONG_NAME_BAR and wrong < decoder_only["by_kind"]["object"]["wrong_name_rate"], wrong


@pytest.mark.quality
def test_no_caption_names_the_same_object_twice(reports):
    named, decoder_only = reports
    doubled = lambda report: [
        p["caption"]
        for p in report["photos"]  # noqa: E731
        if len({o["word"] for o in p["objects"]}) < len(p["objects"])
    ]
    assert doubled(named) == []
    assert doubled(decoder_only) == []  # the decoder-only results carry no object words to compare
    repeated = [p["caption"] for p in decoder_only["photos"] if any(f"a {w} and a {w}" in p["caption"] for w in p["caption"].split()[3:])]
    assert repeated, "the decoder alone doubles names on these photos (a koala and a koala): the check has work to do"


@pytest.mark.quality
def test_in_generated_scenes_the_decoders_words_stay(one_torch_thread):
    """The decoder is right in its own world: naming must find nearly every validation scene there
    (DecoderDomain) and leave its captions as they are (300 scenes: 288 inside, 84.0 % named against
    the decoder's 84.7 %; scripts/measure_naming.py --scenes 300)."""
    from captioner.data.objects import split_scene
    from captioner.pipeline import Captioner

    world = stamps_world()
    images = [split_scene(world, "val", i, seed=0).image for i in range(60)]
    named = Captioner.from_pretrained(device="cpu")
    decoder_only = Captioner.from_pretrained(device="cpu", naming=False)
    inside = named.namer.domain.contains(named.encode(images))
    # its threshold is the 95th percentile of held-out scenes' distances: 57 of these 60 are inside
    assert int(inside.sum()) >= 54
    pairs = zip(named.caption(images, beam_size=3), decoder_only.caption(images, beam_size=3))
    changed = [(a.text, b.text) for k, (a, b) in enumerate(pairs) if inside[k] and a.text != b.text]
    assert changed == []


@pytest.mark.quality
def test_a_scene_just_outside_the_decoders_domain_keeps_its_backed_name(one_torch_thread):
    """Validation scene 132 (a sign) is one of the 9 of 200 that the domain test leaves out: the
    classifier alone took it for a hockey puck (0.94), the stamp recogniser says sign (1.00), and
    their mixture backs the decoder's word (Thresholds.agree), so its caption stays."""
    from captioner.data.objects import split_scene
    from captioner.pipeline import Captioner

    image = split_scene(stamps_world(), "val", 132, seed=0).image
    named = Captioner.from_pretrained(device="cpu")
    assert not bool(named.namer.domain.contains(named.encode([image]))[0])
    (result,) = named.caption([image], beam_size=3)
    assert result.text == result.decoder_text and "sign" in result.words, (result.text, result.decoder_text)
    assert any(o.word == "sign" and o.source == "decoder" and o.probability >= 0.3 for o in result.objects)


def stamps_world():
    """The generated scenes' world (the Tux Paint stamps); skipped where they are not fetched, a failure on CI."""
    from captioner.data.objects import World

    tuxpaint = ROOT / ".cache" / "tuxpaint"
    if not (tuxpaint / "usr/share/tuxpaint/stamps").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{tuxpaint} is missing: scripts/setup.sh --test fetches it (scripts/fetch_tuxpaint.sh)")
        pytest.skip(f"no Tux Paint stamps in {tuxpaint} (bash scripts/fetch_tuxpaint.sh)")
    return World(tuxpaint)
