"""Learning curves of a training run: the per-epoch records of metrics.jsonl drawn as a PNG.

Panels: the training loss (cross-entropy, and the whole objective when it differs), validation
CIDEr-D, and, on grounded data, objects named and attention peak in the object's box (and mask).
Drawn with matplotlib's object API (no pyplot state), so it is safe inside a training process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from captioner.files import atomic_write


def read_metrics(path: str | Path) -> list[dict]:
    """The epoch records of a metrics.jsonl (lines that are not JSON objects are skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "epoch" in record:
            records.append(record)
    return records


def _series(records: Sequence[dict], *keys: str) -> tuple[list, list]:
    """(epochs, values) of the records that hold the nested value records[...][k1][k2]..."""
    xs, ys = [], []
    for r in records:
        value = r
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and value == value:  # NaN: nothing to draw
            xs.append(r["epoch"])
            ys.append(value)
    return xs, ys


def plot_learning_curves(records: Sequence[dict], out: str | Path, title: str | None = None) -> Path:
    """Draw the records (as read_metrics returns them) to the PNG `out`, written atomically."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = [
        ("training loss", [("cross-entropy", ("ce",)), ("objective", ("loss",))]),
        ("validation CIDEr-D", [("CIDEr-D", ("val", "CIDEr-D"))]),
    ]
    grounded = [
        ("objects named", ("val", "grounding", "objects_named_rate")),
        ("peak in box", ("val", "grounding", "attention", "peak_in_box_rate")),
        ("peak in mask", ("val", "grounding", "attention", "peak_in_mask_rate")),
        ("mass in mask", ("val", "grounding", "attention", "mass_in_mask")),
    ]
    if any(_series(records, *keys)[0] for _, keys in grounded):
        panels.append(("validation grounding (rates)", grounded))
    figure = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100, layout="constrained")
    for k, (name, lines) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), k + 1)
        drawn = 0
        for label, keys in lines:
            xs, ys = _series(records, *keys)
            if label == "objective" and ys == _series(records, "ce")[1]:
                continue  # the objective is the cross-entropy alone: one line says it
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
                drawn += 1
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if drawn > 1:
            ax.legend(fontsize="small")
        if not drawn:
            ax.text(0.5, 0.5, "no values yet", ha="center", va="center", transform=ax.transAxes)
    if title:
        figure.suptitle(title)
    out = Path(out)
    atomic_write(out, lambda path: figure.savefig(path, format="png"))
    return out
