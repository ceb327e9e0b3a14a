"""Fit the objects model's decoder domain (captioner/recognition/domain.py) and ship it beside the model.

    python scripts/fit_decoder_domain.py [--train 3000] [--held-out 500] [--out captioner/pretrained/objects]

References: pooled level-3 features of the first N training scenes (split "train", seed 0: the
scenes the model was trained on). Threshold: the 95th percentile of the distance of held-out
validation scenes (indices 1000 and on, apart from the 200 that scripts/measure_naming.py --scenes
measures). No photograph is fitted; the percentile was chosen by the tuning photos (data/photos-tuning,
see --percentile), never data/photos. Prints how many scenes and photos pass, for the record.
Needs the Tux Paint stamps in .cache/tuxpaint (scripts/fetch_tuxpaint.sh).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from captioner.data.objects import World, split_scene
from captioner.evaluation.photos import read_photo_set
from captioner.pipeline import Captioner, default_model_dir
from captioner.recognition.classifier import RegionClassifier
from captioner.recognition.domain import DOMAIN_FILE, DecoderDomain, pooled_features

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT_START = 1000  # validation scenes from here on: none of the 200 that measure_naming.py --scenes counts


def scene_features(captioner: Captioner, world: World, split: str, indices: range, channels: int) -> torch.Tensor:
    chunks = []
    for start in range(indices.start, indices.stop, 100):
        images = [split_scene(world, split, i, seed=0).image for i in range(start, min(indices.stop, start + 100))]
        chunks.append(pooled_features(captioner.encode(images), channels))
    return torch.cat(chunks)


def photo_features(captioner: Captioner, folder: Path, channels: int) -> torch.Tensor:
    rows = read_photo_set(folder)
    return torch.cat([pooled_features(f, channels) for _, f in captioner.encoded([r["path"] for r in rows], batch_size=16)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=3000, help="training scenes kept as references")
    parser.add_argument("--held-out", type=int, default=500, help="validation scenes that set the threshold")
    parser.add_argument("--k", type=int, default=5)
    # The 95th, not the 99th: at the 99th (0.1996) 7 of the tuning set's 33 wildlife photos passed
    # (distances 0.179-0.199), their captions then the decoder's alone; at the 95th (0.149) none of
    # the 86 tuning photos does, and 94-96 % of generated scenes still do.
    parser.add_argument("--percentile", type=float, default=95.0)
    parser.add_argument("--out", type=Path, default=default_model_dir())
    args = parser.parse_args()
    torch.set_num_threads(2)
    captioner = Captioner.from_pretrained(args.out, device="cpu", naming=False)
    channels = RegionClassifier.for_model(captioner.model).head_start  # the level-3 channels before the head's
    world = World(ROOT / ".cache" / "tuxpaint")
    train = scene_features(captioner, world, "train", range(args.train), channels)
    held_out = scene_features(captioner, world, "val", range(HELD_OUT_START, HELD_OUT_START + args.held_out), channels)
    domain = DecoderDomain.fit(train, held_out, k=args.k, percentile=args.percentile)
    about = (
        f"k-NN domain of the decoder: {args.train} training scenes (seed 0), threshold the {args.percentile:g}th "
        f"percentile of {args.held_out} validation scenes from index {HELD_OUT_START}; scripts/fit_decoder_domain.py"
    )
    domain.save(args.out / DOMAIN_FILE, about=about)
    domain = DecoderDomain.load(args.out / DOMAIN_FILE)
    print(f"wrote {args.out / DOMAIN_FILE}: threshold {domain.threshold:.4f}, k {domain.k}, {len(domain.references)} references")
    checks = {
        f"{split} scenes 0-199": scene_features(captioner, world, split, range(200), channels) for split in ("val", "test", "heldout")
    }
    for name in ("photos-tuning", "photos"):
        checks[f"data/{name}"] = photo_features(captioner, ROOT / "data" / name, channels)
    for name, pooled in checks.items():
        inside = domain.contains(pooled[:, None, :])
        print(f"{name}: {int(inside.sum())} of {len(inside)} in the decoder's world ({float(inside.float().mean()):.1%})")


if __name__ == "__main__":
    main()
