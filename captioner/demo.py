"""A demonstration that runs end to end on a CPU in about three minutes, with nothing to download:
generate grounded scenes, train a small soft-attention model on them (features cached from the
pretrained encoder), then caption held-out scenes and write their heatmaps.

Its size is set by time: 600 scenes and 4 epochs. Measured on a 2-core machine busy with other
work (load average 4.3-4.9; python -m benchmarks.bench_demo): 200 s in all (scenes 29 s; features
and 4 epochs of about 30 s each, 168 s; captioning 3 s), 131 CPU seconds. The earlier 1,500 scenes
x 8 epochs took 12-15 minutes. It is enough to see attention learn: the share of an object word's
attention inside that object's box went 31 %, 46 %, 49 %, 51 % over the epochs (uniform: 6 %),
and the objects named 20 % to 50 %.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from captioner.model.config import ModelConfig

# The shipped shapes model's recipe (configs/shapes-soft.json), on fewer scenes and epochs.
DEMO_MODEL = ModelConfig(feature_levels=(2, 3, 4), grid_level=3, embed_dim=128, hidden_dim=256, attention_dim=128, dropout=0.2, max_len=16)


DEMO_SCENES, DEMO_EPOCHS = 600, 4
EXPECTED = "about 3 minutes on a 2-core CPU"


def _one_thread_when_busy() -> None:
    """On a CPU already busy with other work, torch's threads spend their time waiting for each other:
    measured here at load average 5 on 2 cores, the demo's encoder ran 2.2 images/s with 2 threads
    and 19.6 with 1. So the demo takes one thread when the load leaves no core free."""
    import torch

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if cores > 1 and load >= cores - 0.5 and torch.get_num_threads() > 1:
        torch.set_num_threads(1)
        print(f"the CPU is busy (load average {load:.1f} on {cores} cores): one torch thread, which waits less")


def run_demo(
    out_dir: str | Path, n_train: int = DEMO_SCENES, epochs: int = DEMO_EPOCHS, seed: int = 0, n_test: int = 6, timings: dict | None = None
) -> list[dict]:
    """Run the demo into `out_dir`; `timings`, if given, receives each phase's seconds."""
    # Imported here: `captioner demo --help` reads this module's sizes without loading torch.
    from captioner.data.datasets import load_dataset
    from captioner.data.synth import generate_dataset
    from captioner.pipeline import Captioner
    from captioner.training.config import TrainConfig
    from captioner.training.run import run_training
    from captioner.viz.export import export_heatmaps

    out = Path(out_dir)
    started = time.perf_counter()
    timings = {} if timings is None else timings
    if (n_train, epochs) == (DEMO_SCENES, DEMO_EPOCHS):
        print(f"captioner demo: {EXPECTED}")
    _one_thread_when_busy()
    print(f"1/3 generating {n_train} training scenes in {out / 'data'}")
    data = generate_dataset(out / "data", n_train=n_train, n_val=50, n_test=n_test, n_comp=0, seed=seed, progress=True)
    timings["scenes"] = time.perf_counter() - started
    print("2/3 training (features are computed once by the pretrained encoder, then only the decoder trains)")
    config = TrainConfig(
        data=str(data),
        out=str(out / "run"),
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        min_word_freq=1,
        seed=seed,
        doubly_stochastic=0.0,
        trained_on=f"captioner demo: {n_train} generated scenes (seed {seed})",
    )
    run = run_training(DEMO_MODEL, config, resume=(out / "run" / "latest").exists())
    timings["training"] = time.perf_counter() - started - timings["scenes"]
    captioner = Captioner.from_pretrained(run / "best", device="cpu")
    captioner.save_pretrained(out / "model")  # where the web app's instructions look for it
    test = [r for r in load_dataset(data) if r.split == "test"]
    print(f"3/3 captioning {len(test)} held-out scenes; heatmaps in {out / 'heatmaps'}")
    report = []
    for record, item in zip(test, captioner.stream([r.image_path for r in test], keep_images=True)):
        result = item.result
        export_heatmaps(item.image, result, out / "heatmaps", stem=Path(record.image_path).stem)
        reference = " ".join(record.captions[0])
        print(f"  {Path(record.image_path).name}: {result.text!r} (score {result.score:.3f}; a reference: {reference!r})")
        report.append({"path": str(record.image_path), "caption": result.text, "score": result.score, "reference": reference})
    timings["captioning"] = time.perf_counter() - started - timings["scenes"] - timings["training"]
    print(
        f"done in {time.perf_counter() - started:.0f} s; model in {out / 'model'} "
        f"(web app: CAPTIONER_MODELS_DIR={out} streamlit run app/streamlit_app.py)"
    )
    return report
