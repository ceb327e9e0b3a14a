"""Which encoder features carry object identity from pasted stamps to real photographs?

A linear probe, not the captioning model: each image's feature grid is averaged, and a softmax
classifier over the stamp names is trained on generated object scenes (label: the largest object,
the one captions name first), then tested on other generated scenes and on the real photographs in
data/photos (right when the predicted name is one of the photo's accepted words, or its category).
It compares backbone levels of EfficientNet-Lite0: stride 16 (112 ch), stride 32 (320 ch) and the
head conv (1280 ch, what ImageNet's classifier reads).

    python scripts/probe_feature_levels.py --tuxpaint .cache/tuxpaint [--n-train 3000]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from captioner.data.objects import CATEGORY_WORDS, World, mention_order, split_scene
from captioner.images.loading import load_image
from captioner.model.config import ModelConfig
from captioner.model.encoder import build_encoder, preprocessor_for

LEVELS = (3, 4, 5)
SLICES = {"stride16": slice(0, 112), "stride32": slice(112, 432), "head": slice(432, 1712)}
SETS = {
    "stride32": ["stride32"],
    "head": ["head"],
    "stride16+stride32": ["stride16", "stride32"],
    "stride16+head": ["stride16", "head"],
    "all": ["stride16", "stride32", "head"],
}


@torch.inference_mode()
def pooled_features(encoder, preprocess, images, batch=32):
    out = []
    for start in range(0, len(images), batch):
        pixels = preprocess(images[start : start + batch])
        out.append(encoder(pixels).mean(dim=1))
    return torch.cat(out).numpy()


def fit_probe(x, y, n_classes, steps=300, weight_decay=1e-4):
    x = torch.from_numpy(x)
    mean, std = x.mean(0), x.std(0) + 1e-6
    layer = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=weight_decay)
    xs, ys = (x - mean) / std, torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(xs), ys).backward()
        opt.step()
    return lambda z: layer((torch.from_numpy(z) - mean) / std).argmax(1).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tuxpaint", default=".cache/tuxpaint")
    ap.add_argument("--table", default=None, help="stamps table (default: data/objects/stamps.csv)")
    ap.add_argument("--photos", default="data/photos")
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-test", type=int, default=500)
    args = ap.parse_args()
    torch.manual_seed(0)
    world = World(args.tuxpaint, args.table)
    index = {n: i for i, n in enumerate(world.names)}
    category_of = {s.name: s.category for s in world.stamps}
    config = ModelConfig(feature_levels=LEVELS, grid_level=3)
    encoder, preprocess = build_encoder(config).eval(), preprocessor_for(config)

    def scenes(split, n):
        images, labels = [], []
        for i in range(n):
            scene = split_scene(world, split, i, seed=123)
            images.append(scene.image)
            labels.append(index[scene.objects[mention_order(scene.objects)[0]].info.name])
        return pooled_features(encoder, preprocess, images), np.array(labels)

    x_train, y_train = scenes("train", args.n_train)
    x_test, y_test = scenes("test", args.n_test)
    rows = list(csv.DictReader(open(Path(args.photos) / "photos.csv")))
    x_photo = pooled_features(encoder, preprocess, [load_image(Path(args.photos) / r["file"]) for r in rows])
    accepted = [set(r["accepted"].split("|")) for r in rows]

    print(f"{len(world.names)} names; {args.n_train} training scenes, {args.n_test} test scenes, {len(rows)} photos")
    print("| features | dims | scenes: top-1 | photos: name or category right |")
    print("|---|---|---|---|")
    for label, parts in SETS.items():
        cols = np.concatenate([np.arange(SLICES[p].start, SLICES[p].stop) for p in parts])
        predict = fit_probe(x_train[:, cols], y_train, len(world.names))
        scene_acc = float((predict(x_test[:, cols]) == y_test).mean())
        guesses = [world.names[k] for k in predict(x_photo[:, cols])]
        photo_right = [g in ok or CATEGORY_WORDS.get(category_of[g], ("", ""))[-1] in ok for g, ok in zip(guesses, accepted)]
        print(f"| {label} | {len(cols)} | {scene_acc:.3f} | {np.mean(photo_right):.3f} ({sum(photo_right)}/{len(rows)}) |")


if __name__ == "__main__":
    main()
