"""Fit the stamp recogniser (captioner/recognition/stamps.py) and ship it beside the objects model.

    python scripts/fit_stamp_recogniser.py [--variants 8] [--out captioner/pretrained/objects]

Renders every Tux Paint stamp of the objects world large (50-90 % of the frame's side, as a
photograph of one object shows it) on varied backgrounds: the world's background photos and
generated ones (as in its scenes) and plain light ones (as in product photos), mirrored, turned and
recoloured as the scenes do; plus backgrounds with no stamp, the class "nothing". The encoder's head
features, averaged over the grid, are what the probe learns from: a softmax regression onto the
decoder's object names with weight decay. No real photograph is used. Needs the Tux Paint stamps in
.cache/tuxpaint (scripts/fetch_tuxpaint.sh).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from captioner.data.objects import World
from captioner.data.objects import _background as background_image  # the scenes' own backgrounds
from captioner.data.objects import _transformed_stamp as transformed_stamp  # and their stamp transforms
from captioner.pipeline import Captioner, default_model_dir
from captioner.recognition.classifier import RegionClassifier
from captioner.recognition.stamps import STAMPS_FILE, StampRecogniser

ROOT = Path(__file__).resolve().parents[1]
SIDE = 224
NOTHING = "nothing"  # backgrounds without a stamp


def render(rng: np.random.Generator, world: World, info) -> Image.Image:
    """One stamp, large, on a background; info None: the background alone."""
    kind = rng.random()
    if kind < 0.3:
        canvas = Image.new("RGB", (SIDE, SIDE), tuple(int(v) for v in rng.uniform(170, 255, 3)))
    elif kind < 0.55:
        canvas, _ = background_image(rng, world, "generated", SIDE, SIDE)
    else:
        canvas, _ = background_image(rng, world, world.background_names[int(rng.integers(len(world.background_names)))], SIDE, SIDE)
    if info is None:
        return canvas
    stamp = transformed_stamp(rng, world, info, int(rng.uniform(0.5, 0.9) * SIDE))
    stamp.thumbnail((SIDE - 2, SIDE - 2))
    x = int(rng.integers(0, SIDE - stamp.width + 1))
    y = int(rng.integers(0, SIDE - stamp.height + 1))
    canvas.paste(stamp, (x, y), stamp)
    return canvas


def head_features(captioner: Captioner, images: list[Image.Image], head_start: int) -> torch.Tensor:
    out = []
    for k in range(0, len(images), 64):
        out.append(captioner.encode(images[k : k + 64])[..., head_start:].float().mean(dim=1))
    return torch.cat(out)


def fit_probe(x: torch.Tensor, y: torch.Tensor, classes: int, weight_decay: float, steps: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], classes)
    optimiser = torch.optim.AdamW(linear.parameters(), lr=0.01, weight_decay=weight_decay)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y)
        loss.backward()
        optimiser.step()
    return linear.weight.detach(), linear.bias.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=8, help="renderings per stamp")
    parser.add_argument("--nothing", type=int, default=400, help="renderings of backgrounds alone")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=default_model_dir())
    args = parser.parse_args()
    torch.set_num_threads(2)
    captioner = Captioner.from_pretrained(args.out, device="cpu", naming=False)
    head_start = RegionClassifier.for_model(captioner.model).head_start
    world = World(ROOT / ".cache" / "tuxpaint")
    names = world.names + [NOTHING]
    rng = np.random.default_rng(0)
    jobs = [(info, v) for info in world.stamps for v in range(args.variants)] + [(None, v) for v in range(args.nothing)]
    labels = torch.tensor([names.index(info.name) if info is not None else len(names) - 1 for info, _ in jobs])
    features = head_features(captioner, [render(rng, world, info) for info, _ in jobs], head_start)
    # held-out check: the last variant of every stamp, and a tenth of the backgrounds
    held = torch.tensor([v == args.variants - 1 if info is not None else v % 10 == 0 for info, v in jobs])
    weight, bias = fit_probe(features[~held], labels[~held], len(names), args.weight_decay)
    accuracy = float(((features[held] @ weight.t() + bias).argmax(-1) == labels[held]).float().mean())
    print(f"{len(world.stamps)} stamps, {len(names) - 1} names; held-out renderings: top-1 {accuracy:.1%}")
    weight, bias = fit_probe(features, labels, len(names), args.weight_decay)
    recogniser = StampRecogniser(weight, bias, names, head_start)
    about = (
        f"softmax regression on EfficientNet-Lite0 head features of {len(world.stamps)} Tux Paint stamps x {args.variants} "
        f"renderings and {args.nothing} backgrounds; weight decay {args.weight_decay}; scripts/fit_stamp_recogniser.py"
    )
    recogniser.save(args.out / STAMPS_FILE, about=about)
    print(f"wrote {args.out / STAMPS_FILE}")


if __name__ == "__main__":
    main()
