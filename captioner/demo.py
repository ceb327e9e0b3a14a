"""A demonstration that runs end to end on a CPU in a few minutes, with nothing to download:
generate grounded scenes, cache their features from the pretrained encoder, train a small
soft-attention decoder, then caption held-out scenes and write their heatmaps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from captioner.config import ModelConfig
from captioner.heatmaps import export_result
from captioner.images import load_image
from captioner.pipeline import Captioner
from captioner.synth import generate_dataset
from captioner.train import TrainConfig, extract_features, train_decoder
from captioner.vocab import Vocabulary

DEMO_MODEL = ModelConfig(embed_dim=128, hidden_dim=256, attention_dim=128, dropout=0.2, max_len=16)


def run_demo(out_dir: str | Path, n_train: int = 1500, epochs: int = 12, seed: int = 0, n_test: int = 6) -> list[dict]:
    out = Path(out_dir)
    started = time.perf_counter()
    print(f"1/4 generating {n_train} training scenes and {n_test} test scenes in {out / 'data'}")
    dataset = json.loads(
        generate_dataset(out / "data", n_train=n_train, n_val=0, n_test=n_test, n_comp=0, seed=seed, progress=True).read_text()
    )
    root = out / "data"
    train = [im for im in dataset["images"] if im["split"] == "train"]
    test = [im for im in dataset["images"] if im["split"] == "test"]
    vocab = Vocabulary.build((s["tokens"] for im in train for s in im["sentences"]), min_freq=1)
    captioner = Captioner.from_config(DEMO_MODEL, vocab)

    print(f"2/4 encoding the training images once with the pretrained {captioner.config.encoder} encoder")
    features = extract_features(captioner, [root / im["filepath"] / im["filename"] for im in train], progress=True)
    pairs = [(i, vocab.encode(s["tokens"])) for i, im in enumerate(train) for s in im["sentences"]]

    print(f"3/4 training the decoder: {len(pairs)} captions x {epochs} epochs")
    train_decoder(captioner.model, features, pairs, TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, seed=seed))
    captioner.model.config.trained_on = f"captioner demo: {n_train} generated scenes (seed {seed}), {epochs} epochs"
    captioner.save_pretrained(out / "model")

    print(f"4/4 captioning {n_test} held-out scenes; heatmaps in {out / 'heatmaps'}")
    paths = [root / im["filepath"] / im["filename"] for im in test]
    results = captioner.caption(paths, beam_size=3)
    report = []
    for path, im, r in zip(paths, test, results):
        export_result(load_image(path), r, out / "heatmaps", stem=path.stem)
        reference = im["sentences"][0]["raw"]
        print(f"  {path.name}: {r.text!r}  (score {r.score:.3f}; a reference: {reference!r})")
        report.append({"path": str(path), "caption": r.text, "score": r.score, "reference": reference})
    print(f"done in {time.perf_counter() - started:.0f} s; model saved in {out / 'model'}")
    return report
