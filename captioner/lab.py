"""The attention lab: `captioner lab`. Every variant of the attention family trained on the same
generated shapes scenes with the same budget (seed, scenes, epochs), then measured on the same held-out
scenes, into one table (markdown and JSON) and one figure.

Each row is trained by the functions `captioner train` runs (training.run.run_training: the same
objective, feature cache, validation and "best" model), from a configuration file and the row's
`--set`-style overrides; with `warm_start` a row instead starts from a trained model's decoder (the
parameters whose name and shape it shares; the rest initialised as new) and fine-tunes with
training.loop.train_decoder. The encoder is frozen, so every row reads one feature cache.
Rows that need a training option this build lacks are reported as not available, never run; rows
already measured in the same folder at the same budget are kept (a stopped run goes on from there).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from captioner.files import finite_json

# numpy and torch are imported where used: `captioner --help` lists this module's variants without them.

TABLE_FILE, JSON_FILE, FIGURE_FILE = "lab.md", "lab.json", "lab.png"
LAB_DECODING_BEAM = 3  # the product's default beam


@dataclass(frozen=True)
class Variant:
    """A row of the lab: the paper's model (configs/shapes-soft.json) with these overrides."""

    name: str
    label: str
    comparison: str  # which side-by-side the row belongs to
    model: dict = field(default_factory=dict)  # model.<key> overrides
    train: dict = field(default_factory=dict)  # train.<key> overrides


VARIANTS: tuple[Variant, ...] = (
    Variant("additive", "additive (the paper's model: soft, global, XE)", "score function"),
    # With annotations and LSTM state of different sizes (472 and 256 here) "dot" maps the annotations
    # into the state's size by a learned W, which makes it "general" (h^T W a): the same parameters,
    # initialised alike from the seed, so the two rows train to the same weights.
    Variant("dot", "dot product (general's h^T W a when the sizes differ)", "score function", {"attention": "dot"}),
    Variant("scaled_dot", "scaled dot product", "score function", {"attention": "scaled_dot"}),
    Variant("general", "general (Luong)", "score function", {"attention": "general"}),
    Variant("cosine", "content-based cosine", "score function", {"attention": "cosine"}),
    Variant("location", "location-based (reads no image)", "score function", {"attention": "location"}),
    # hard attention as the shipped hard model is trained (configs/shapes-hard.json)
    Variant("hard", "hard attention (straight-through Gumbel)", "soft vs hard", {"hard_attention": True}, {"hard_estimator": "gumbel"}),
    Variant("local", "local attention (local-p, sigma 2 cells)", "global vs local", {"local_sigma": 2.0}),
    Variant("local_sigma3", "local attention (local-p, sigma 3 cells)", "global vs local", {"local_sigma": 3.0}),
    Variant("sentinel", "visual sentinel", "with/without sentinel", {"sentinel": True}),
    Variant(
        "sentinel_output",
        "visual sentinel, mixed context to the output only (Lu's wiring)",
        "with/without sentinel",
        {"sentinel": True, "sentinel_context": "output"},
    ),
    Variant("self_attention", "grid self-attention (4 heads)", "with/without self-attention", {"grid_self_attention_heads": 4}),
    Variant("scst", "XE then SCST (greedy baseline)", "XE vs SCST", {}, {"scst_epochs": 1, "scst_baseline": "greedy"}),
    Variant("supervised", "supervised attention (weight 1)", "with/without supervised attention", {}, {"attention_supervision": 1.0}),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)

# Every row's starting point when no --config is given: the shipped shapes model's settings
# (configs/shapes-soft.json, captioner/pretrained/shapes/README.md).
LAB_BASE = {
    "model": {"feature_levels": [2, 3, 4], "grid_level": 3, "embed_dim": 128, "hidden_dim": 256, "attention_dim": 128, "dropout": 0.3},
    "train": {"batch_size": 64, "lr": 0.002, "doubly_stochastic": 0.0, "min_word_freq": 1},
}


@dataclass(frozen=True)
class LabBudget:
    """What every row gets: the first `scenes` training scenes for `epochs` epochs, seed `seed`;
    validation on `val_scenes`, the table on the first `test_scenes` test scenes."""

    scenes: int = 1000
    epochs: int = 2
    seed: int = 0
    val_scenes: int = 100
    test_scenes: int = 200

    def __post_init__(self):
        for name in ("scenes", "epochs", "val_scenes", "test_scenes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"lab budget: {name} must be a whole number >= 1, got {value!r}")


def parse_budget(text: str) -> tuple[int, int]:
    """'SCENESxEPOCHS' (e.g. '1000x2') as (scenes, epochs)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX/]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ValueError(f"--budget {text!r}: expected SCENESxEPOCHS with both >= 1, e.g. 1000x2")
    return int(match[1]), int(match[2])


def select_variants(names: Sequence[str] | None) -> list[Variant]:
    """The rows named (all when None), in the lab's order; an unknown name is refused, naming the known ones."""
    if not names:
        return list(VARIANTS)
    unknown = [n for n in names if n not in VARIANT_NAMES]
    if unknown:
        raise ValueError(f"--variants: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(VARIANT_NAMES)}")
    return [v for v in VARIANTS if v.name in names]


def missing_training_options(variant: Variant) -> list[str]:
    """The train.* fields this variant needs that this build's TrainConfig does not have."""
    from captioner.training.config import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return [f"train.{k}" for k in variant.train if k not in known]


# -- warm starts ---------------------------------------------------------------------------------


def warm_start(model, source) -> list[str]:
    """Copy into `model`'s decoder every parameter of `source`'s decoder with the same name and shape.
    Returns the names left as initialised (the variant's own layers)."""
    own, theirs = model.decoder.state_dict(), source.decoder.state_dict()
    shared = {k: v.to(own[k].dtype) for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    model.decoder.load_state_dict(shared, strict=False)
    return sorted(set(own) - set(shared))


def near_identity_grid_attention(layer, features, sample: int = 200) -> dict:
    """Start a new grid self-attention layer (model.grid_self_attention.GridSelfAttention) close to
    passing the annotations through, so that a warm-started decoder still reads what it was trained
    on: the attention's and the feed-forward's output projections start at zero (the layer is then
    LayerNorm of each cell's annotation; they still receive gradients), and the last norm's scale and
    shift are fitted per channel (least squares over the first `sample` images' cells) to map the
    normalised cell back to the annotation. Returns how much of the annotations' variance that keeps."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    cells = torch.from_numpy(np.asarray(features[:sample], dtype=np.float32)).flatten(0, -2)  # (n L, D)
    normalised = F.layer_norm(cells, cells.shape[-1:])  # the layer's output with both residual branches at zero (norm of a norm)
    n_centred, a_centred = normalised - normalised.mean(0), cells - cells.mean(0)
    scale = (n_centred * a_centred).mean(0) / n_centred.pow(2).mean(0).clamp_min(1e-8)
    shift = cells.mean(0) - scale * normalised.mean(0)
    with torch.no_grad():
        for linear in (layer.attention.out_proj, layer.feed_forward[-1]):
            linear.weight.zero_()
            linear.bias.zero_()
        layer.norm_out.weight.copy_(scale)
        layer.norm_out.bias.copy_(shift)
    residual = (cells - (normalised * scale + shift)).pow(2).sum() / a_centred.pow(2).sum()
    return {"variance_kept": round(1.0 - float(residual), 4), "images": min(sample, len(features))}


# -- the lab -------------------------------------------------------------------------------------


def run_lab(
    data: str | Path,
    out: str | Path,
    variants: Sequence[Variant],
    budget: LabBudget = LabBudget(),
    config_file: str | Path | None = None,
    warm_start_from: str | Path | None = None,
    progress: bool = True,
    retrain: bool = False,
) -> dict:
    """Train and measure every variant; write out/lab.md, lab.json and lab.png; return the report.
    A row that out/lab.json already holds, measured with the same data, budget, configuration and
    start, is kept as it is (`retrain`: trained again): a run adds rows to one table, and a run
    that was stopped goes on from its last finished row."""
    import torch

    from captioner.data.datasets import load_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = load_dataset(data)
    subset = _subset_dataset(Path(data), budget, out / "scenes.json")
    test_records = [r for r in records if r.split == "test"][: budget.test_scenes]
    if not test_records:
        raise ValueError(f"{data}: no test split to measure the lab on")
    rows: list[dict] = []
    report = {
        "data": str(data),
        "budget": dataclasses.asdict(budget),
        "config": str(config_file) if config_file else None,
        "warm_start": str(warm_start_from) if warm_start_from else None,
        "decoding": f"beam {LAB_DECODING_BEAM}, decoder only on cached features, batch 50, CPU threads {torch.get_num_threads()}",
        "seconds": 0.0,
        "rows": rows,
    }
    measured = {} if retrain else _measured_rows(out / JSON_FILE, report)
    for variant in variants:
        row = {"variant": variant.name, "label": variant.label, "comparison": variant.comparison, "available": False}
        missing = missing_training_options(variant)
        if variant.name in measured:
            row = measured[variant.name]
        elif missing:
            row["reason"] = f"not available in this build (no {', '.join(missing)})"
        elif warm_start_from is not None and variant.train:
            row["reason"] = "not available with a warm start (its training option runs in captioner train only)"
        else:
            row_started = time.perf_counter()
            if warm_start_from is None:
                model_dir = _train_row(variant, subset, out, budget, config_file, progress)
            else:
                model_dir = _finetune_row(variant, subset, out, budget, warm_start_from, progress)
            row.update(available=True, train_seconds=round(time.perf_counter() - row_started, 1), model_dir=str(model_dir))
            row.update(measure_model(model_dir, test_records, out / "cache"))
            row["seconds"] = round(time.perf_counter() - row_started, 1)  # training and measuring
            if progress:
                print(f"lab: {variant.name}: {_row_line(row)}", flush=True)
        rows.append(row)
        report["seconds"] = round(sum(r.get("seconds", r.get("train_seconds", 0.0)) for r in rows), 1)
        write_report(report, out)  # after every row: a long run shows what it has so far
    return report


def _measured_rows(path: Path, report: dict) -> dict[str, dict]:
    """The rows an earlier run in the same folder measured with the same data, budget, configuration
    and start (an unreadable or different report: none)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    same = all(earlier.get(key) == report[key] for key in ("data", "budget", "config", "warm_start"))
    return {r["variant"]: r for r in earlier.get("rows", []) if same and r.get("available")} if isinstance(earlier, dict) else {}


def write_report(report: dict, out: Path) -> None:
    """out/lab.json, lab.md and lab.png from a report."""
    (out / JSON_FILE).write_text(finite_json(report, indent=2))  # an undefined figure (no object named) is null
    (out / TABLE_FILE).write_text(lab_table(report))
    lab_figure(report, out / FIGURE_FILE)


def _subset_dataset(data: Path, budget: LabBudget, path: Path) -> Path:
    """A copy of the split file `data` (Karpathy-style, as `captioner synth` writes) that keeps the
    budget's scenes (its first `scenes` train and `val_scenes` val images, groundings and all), its
    image paths made absolute: what every row trains on."""
    source = json.loads(Path(data).read_text())
    root = Path(data).resolve().parent
    kept, counts = [], {"train": 0, "val": 0}
    limits = {"train": budget.scenes, "val": budget.val_scenes}
    for image in source["images"]:
        split = "train" if image.get("split") == "restval" else image.get("split")
        if split in limits and counts[split] < limits[split]:
            counts[split] += 1
            kept.append({**image, "filepath": str(root / image.get("filepath", ""))})
    if counts["train"] < budget.scenes:
        raise ValueError(f"lab budget: {budget.scenes} training scenes asked for, {data} has {counts['train']}")
    path.write_text(json.dumps({**{k: v for k, v in source.items() if k != "images"}, "images": kept}))
    return path


def _row_configs(variant: Variant, budget: LabBudget, config_file, data: Path, run: Path, cache: Path):
    from captioner.training.config import load_configs

    base = LAB_BASE if config_file is None else {}
    overrides = [f"{section}.{k}={json.dumps(v)}" for section, values in base.items() for k, v in values.items()]
    overrides += [f"model.{k}={json.dumps(v)}" for k, v in variant.model.items()]
    overrides += [f"train.{k}={json.dumps(v)}" for k, v in variant.train.items()]
    common = {
        "data": str(data), "out": str(run), "epochs": budget.epochs, "seed": budget.seed, "val_images": budget.val_scenes,
        "patience": budget.epochs, "cache_dir": str(cache), "checkpoint_every": 0, "keep_checkpoints": 1,
    }  # fmt: skip
    overrides += [f"train.{k}={json.dumps(v)}" for k, v in common.items()]
    return load_configs(config_file, overrides)


def _train_row(variant: Variant, data: Path, out: Path, budget: LabBudget, config_file, progress: bool) -> Path:
    """Train one row from scratch as `captioner train` does; its best model by validation CIDEr-D."""
    import shutil

    from captioner.training.run import run_training

    run = out / "runs" / variant.name
    shutil.rmtree(run, ignore_errors=True)  # a row is trained again whole, never resumed half-way
    model_config, train_config = _row_configs(variant, budget, config_file, data, run, out / "cache")
    return run_training(model_config, train_config, progress=progress) / "best"


def _finetune_row(variant: Variant, data: Path, out: Path, budget: LabBudget, source, progress: bool) -> Path:
    """One row started from `source`'s decoder (warm_start) and trained on the budget with the
    training loop `captioner train` runs; its final model."""
    import torch

    from captioner.data.datasets import load_dataset
    from captioner.model.model import CaptionModel
    from captioner.modeldir.checkpoint import load_model, save_model
    from captioner.pipeline import default_model_dir, shipped_models
    from captioner.training.features import extract_features, feature_cache_name
    from captioner.training.loop import train_decoder

    source_dir = default_model_dir(str(source)) if str(source) in shipped_models() and not Path(source).exists() else Path(source)
    source_model, vocab = load_model(source_dir, device="cpu")
    model_config, train_config = _row_configs(variant, budget, None, data, out / "runs" / variant.name, out / "cache")
    config = dataclasses.replace(source_model.config, **variant.model)
    torch.manual_seed(budget.seed)
    model = CaptionModel(config).eval()
    fresh = warm_start(model, source_model)
    train = [r for r in load_dataset(data) if r.split == "train"]
    paths = [r.image_path for r in train]
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    features = extract_features(model, paths, cache / feature_cache_name(config, paths), progress=progress)
    unknown = {w for r in train for c in r.captions for w in c if w not in vocab.stoi}
    if unknown:
        raise ValueError(f"{data}: words {sorted(unknown)[:10]} are not in {source_dir}'s vocabulary: warm-start from a model of this data")
    note = {"warm_start": str(source_dir), "initialised": fresh, "train": train_config.to_json()}
    if config.grid_self_attention_heads and not source_model.config.grid_self_attention_heads:
        note["grid_self_attention_start"] = near_identity_grid_attention(model.decoder.grid_attention, features)
    pairs = [(i, vocab.encode(c, max_len=train_config.max_caption_len)) for i, r in enumerate(train) for c in r.captions]
    train_decoder(model, features, pairs, train_config, progress=progress)
    target = out / "runs" / variant.name / "final"
    save_model(model.eval(), vocab, target)
    (target.parent / "warm_start.json").write_text(json.dumps(note, indent=2))
    return target


def measure_model(model_dir: str | Path, test_records: Sequence, cache: Path, batch_size: int = 50) -> dict:
    """A model's figures on test scenes: CIDEr-D, objects named, attention mass and peak in box (and
    the uniform baseline), the sentinel's mean share on function and object words (sentinel models),
    decoder parameters, and decoding ms per image (beam 3, decoder only, on cached features)."""
    import numpy as np
    import torch

    from captioner.data.datasets import references
    from captioner.decoding.options import DecodingOptions
    from captioner.decoding.search import generate
    from captioner.evaluation.caption_metrics import caption_metrics
    from captioner.evaluation.evaluate import grounding_report
    from captioner.evaluation.sentinel_shares import mean_shares
    from captioner.images.loading import load_image
    from captioner.modeldir.checkpoint import load_model
    from captioner.results.from_hypotheses import caption_results
    from captioner.runtime.inference import decoding_step
    from captioner.training.features import extract_features, feature_cache_name

    model, vocab = load_model(model_dir, device="cpu")
    model.eval()
    paths = [r.image_path for r in test_records]
    cache.mkdir(parents=True, exist_ok=True)
    features = extract_features(model, paths, cache / feature_cache_name(model.config, paths))
    options = DecodingOptions(beam_size=LAB_DECODING_BEAM)
    step = decoding_step(model.decoder, options.hard_context)
    results, seconds = [], 0.0
    for start in range(0, len(paths), batch_size):
        feats = torch.from_numpy(np.array(features[start : start + batch_size], dtype=np.float32))
        began = time.perf_counter()
        with torch.inference_mode():
            hyps = generate(step, feats, options)
        seconds += time.perf_counter() - began
        results.extend(caption_results(hyps, vocab, model.config.grid_size))
    predictions = {r.image_id: res.text for r, res in zip(test_records, results)}
    scores = caption_metrics(predictions, references(test_records), meteor=False)
    grounding = grounding_report(test_records, results, [load_image(p).size for p in paths])
    attention = grounding["attention"]
    shares = mean_shares(test_records, results) if model.decoder.sentinel is not None else {}
    return {
        "CIDEr-D": scores["CIDEr-D"],
        "BLEU-4": scores["BLEU-4"],
        "objects_named": grounding["objects_named_rate"],
        "mass_in_box": attention.get("mass_in_box"),
        "uniform_mass": attention.get("baseline"),
        "peak_in_box": attention.get("peak_in_box_rate"),
        "attention_words": attention.get("count", 0),  # the object words whose maps the two figures above average
        "sentinel_function_words": shares.get("function"),
        "sentinel_object_words": shares.get("object"),
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
        "decoding_ms_per_image": round(1000 * seconds / len(paths), 2),
        "test_scenes": len(paths),
        "example": results[0].text if results else "",
    }


# -- the table and the figure ----------------------------------------------------------------


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}"
    if kind == "int":
        return f"{value:,}"
    return f"{value:.3f}" if kind == "f3" else f"{value:.1f}"


COLUMNS = (  # (key, heading, format)
    ("CIDEr-D", "CIDEr-D", "f3"),
    ("objects_named", "objects named %", "pct"),
    ("mass_in_box", "mass in box %", "pct"),
    ("peak_in_box", "peak in box %", "pct"),
    ("attention_words", "words scored", "int"),
    ("sentinel_function_words", "sentinel share: function words", "f3"),
    ("sentinel_object_words", "sentinel share: object words", "f3"),
    ("decoder_parameters", "decoder parameters", "int"),
    ("decoding_ms_per_image", "decoding ms/image", "f1"),
    ("train_seconds", "training s", "f1"),
)


def _row_line(row: dict) -> str:
    return ", ".join(f"{heading} {_fmt(row.get(key), kind)}" for key, heading, kind in COLUMNS)


def lab_table(report: dict) -> str:
    """The report as a markdown table, with the budget it was run at."""
    b = report["budget"]
    lines = [
        f"Budget: the first {b['scenes']} training scenes of {report['data']}, {b['epochs']} epoch{'s' if b['epochs'] > 1 else ''}, "
        f"seed {b['seed']}"
        + (
            f", warm-started from {report['warm_start']} (the final model)"
            if report.get("warm_start")
            else f", each row from scratch (its best epoch by CIDEr-D on {b['val_scenes']} validation scenes)"
        )
        + f"; measured on the first {b['test_scenes']} test scenes "
        f"({report['decoding']}). Training and measuring took {report['seconds']:.0f} s in all.",
        "",
        "| variant | compares | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for row in report["rows"]:
        if row["available"]:
            cells = [_fmt(row.get(k), kind) for k, _, kind in COLUMNS]
        else:
            cells = [row["reason"]] + [""] * (len(COLUMNS) - 1)
        lines.append(f"| {row['label']} | {row['comparison']} | " + " | ".join(cells) + " |")
    uniform = [r["uniform_mass"] for r in report["rows"] if r.get("uniform_mass") is not None]
    if uniform:
        lines += ["", f"Uniform attention would put {100 * sum(uniform) / len(uniform):.1f} % of its mass in the named object's box."]
    return "\n".join(lines) + "\n"


def lab_figure(report: dict, path: Path) -> Path:
    """Four panels, one bar per row: CIDEr-D, objects named, mass in box, peak in box."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["available"]]
    panels = [("CIDEr-D", "CIDEr-D", 1.0), ("objects_named", "objects named %", 100.0), ("mass_in_box", "attention mass in box %", 100.0),
              ("peak_in_box", "peak in box %", 100.0)]  # fmt: skip
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 0.45 * max(3, len(rows)) + 1.5), sharey=True)
    names = [r["variant"] for r in rows]
    for ax, (key, title, scale) in zip(axes, panels):
        values = [scale * (r.get(key) or 0.0) for r in rows]
        ax.barh(range(len(rows)), values, color="#4c72b0")
        ax.set_title(title)
        if key == "mass_in_box" and any(r.get("uniform_mass") is not None for r in rows):
            ax.axvline(100 * float(np.mean([r["uniform_mass"] for r in rows if r.get("uniform_mass") is not None])), color="grey",
                       linestyle="--", label="uniform")  # fmt: skip
            ax.legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(range(len(rows)), names)
    axes[0].invert_yaxis()
    b = report["budget"]
    fig.suptitle(f"attention lab: {b['scenes']} scenes x {b['epochs']} epoch(s), seed {b['seed']}, {b['test_scenes']} test scenes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
