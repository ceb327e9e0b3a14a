"""Do the anti-repetition options and the length penalty help? One table a model: each decoding
setting's objects-named rate, attention correctness and CIDEr-D (no METEOR) on generated test scenes
made in memory, and for the objects world the real photographs of data/photos.

    python scripts/measure_decoding_options.py --model objects --world objects [--n 200]
    python scripts/measure_decoding_options.py --model shapes --world shapes
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import torch

from captioner.decoding.options import DecodingOptions
from captioner.evaluation.caption_metrics import caption_metrics
from captioner.evaluation.evaluate import grounding_report
from captioner.evaluation.photos import photo_report
from captioner.pipeline import Captioner

SETTINGS = {
    "beam 3": DecodingOptions(beam_size=3),
    "beam 3, no repeats": DecodingOptions(beam_size=3, block_repeats=True),
    "beam 3, no trigram repeats": DecodingOptions(beam_size=3, block_trigrams=True),
    "beam 3, both": DecodingOptions(beam_size=3, block_repeats=True, block_trigrams=True),
    "beam 3, both, length penalty 0.5": DecodingOptions(beam_size=3, block_repeats=True, block_trigrams=True, length_penalty=0.5),
    "beam 3, both, length penalty 1.5": DecodingOptions(beam_size=3, block_repeats=True, block_trigrams=True, length_penalty=1.5),
    "greedy": DecodingOptions(beam_size=1),
    "greedy, both": DecodingOptions(beam_size=1, block_repeats=True, block_trigrams=True),
}


def scenes_for(world: str, split: str, n: int, tuxpaint: str):
    if world == "objects":
        from captioner.data.objects import World, split_scene

        stamps = World(tuxpaint)
        return [split_scene(stamps, split, i, seed=0) for i in range(n)], "objects"
    from captioner.data import synth

    return [synth.split_scene(split, i, seed=0) for i in range(n)], "synth"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="objects")
    ap.add_argument("--world", choices=("objects", "shapes"), default="objects")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--tuxpaint", default=".cache/tuxpaint")
    ap.add_argument("--photos", default="data/photos")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    captioner = Captioner.from_pretrained(args.model, device="cpu")
    scenes, dataset = scenes_for(args.world, args.split, args.n, args.tuxpaint)
    images = [s.image for s in scenes]
    records = [SimpleNamespace(objects=[o.to_json() for o in s.objects], dataset=dataset) for s in scenes]
    references = {i: [s.raw for s in scene.sentences] for i, scene in enumerate(scenes)}
    photos = args.world == "objects"
    print(
        f"model {args.model}, {args.n} {args.world} scenes of the {args.split} split (seed 0)"
        + (f", photos {args.photos}" if photos else "")
    )
    header = "| decoding | objects named % | mass in box % | peak in box % | mass in mask % | CIDEr-D | mean length |" + (
        " photos named |" if photos else ""
    )
    print(header)
    print("|" + "---|" * header.count(" |"))
    for label, options in SETTINGS.items():
        results = captioner.caption(images, options)
        report = grounding_report(records, results, [im.size for im in images])
        att = report["attention"]
        cider = caption_metrics({i: r.text for i, r in enumerate(results)}, references, meteor=False)["CIDEr-D"]
        row = [
            label,
            f"{100 * report['objects_named_rate']:.1f}",
            f"{100 * att['mass_in_box']:.1f}",
            f"{100 * att['peak_in_box_rate']:.1f}",
            f"{100 * att['mass_in_mask']:.1f}" if "mass_in_mask" in att else "–",
            f"{cider:.3f}",
            f"{sum(len(r.words) for r in results) / len(results):.1f}",
        ]
        if photos:
            known = photo_report(captioner, args.photos, options)
            row.append(
                f"{sum(p['named'] for p in known['photos'] if p['known'] == 'yes')}/{sum(p['known'] == 'yes' for p in known['photos'])}"
            )
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
