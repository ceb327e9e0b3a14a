"""Markdown tables from `captioner evaluate` reports: one results table for data set reports,
and one table a photo for photo-set reports (`captioner evaluate --photos`).

    python -m captioner.evaluation.report results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"]


def _fmt(value, scale: float = 100.0) -> str:
    """Percentages with one decimal (scale 100); CIDEr-D as is (scale 1) with three."""
    if value is None or value != value:
        return "–"
    return f"{value * scale:.1f}" if scale != 1.0 else f"{value:.3f}"


def model_label(report: dict) -> str:
    """The model's folder name when the report names it (a training run's name for its best or
    final model), else its attention kind."""
    if report.get("model"):
        path = Path(report["model"])
        return path.parent.name if path.name in ("best", "final") and path.parent.name else path.name
    return "hard" if report.get("hard_attention") else "soft"


def decoding_label(report: dict) -> str:
    """The beam size, with the anti-repetition options that were on and, for a hard-attention
    model, how it read the grid (reports written before the option existed read the argmax)."""
    d = report.get("decoding", {})
    extras = [name for key, name in (("block_repeats", "no repeats"), ("block_trigrams", "no trigram repeats")) if d.get(key)]
    if d.get("length_penalty", 1.0) != 1.0:
        extras.append(f"length penalty {d['length_penalty']:g}")
    if report.get("hard_attention"):
        extras.append({"argmax": "argmax location", "expected": "expected context"}[d.get("hard_context", "argmax")])
    return str(report["beam_size"]) + (f" ({', '.join(extras)})" if extras else "")


def results_table(reports: list[dict]) -> str:
    """Columns for masks appear when some report has mask figures (scenes of photographed objects)."""
    masks = any("mass_in_mask" in r.get("grounding", {}).get("attention", {}) for r in reports)
    header = ["model", "split", "beam", *METRICS, "objects named %", "mass in box %", "uniform %", "peak in box %"]
    if masks:
        header += ["mass in mask %", "uniform (mask) %", "peak in mask %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sorted(reports, key=lambda r: (model_label(r), r.get("split", ""), r.get("beam_size", 0), decoding_label(r))):
        m, g = r["metrics"], r.get("grounding", {})
        att = g.get("attention", {})
        row = [
            model_label(r),
            r.get("split", "?"),
            decoding_label(r),
            *[_fmt(m.get(k), scale=1.0 if k == "CIDEr-D" else 100.0) for k in METRICS],
            _fmt(g.get("objects_named_rate")),
            _fmt(att.get("mass_in_box")),
            _fmt(att.get("baseline")),
            _fmt(att.get("peak_in_box_rate")),
        ]
        if masks:
            row += [_fmt(att.get("mass_in_mask")), _fmt(att.get("mask_baseline")), _fmt(att.get("peak_in_mask_rate"))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def photos_table(report: dict) -> str:
    """One row a photo: its main object, the caption, and whether the caption names it."""
    lines = ["| photo | main object | known | caption | named |", "|---|---|---|---|---|"]
    for p in report["photos"]:
        lines.append(f"| {p['file']} | {p['main_object']} | {p.get('known', '')} | {p['caption']} | {'yes' if p['named'] else 'no'} |")
    known = [p for p in report["photos"] if p.get("known") == "yes"]
    lines.append("")
    lines.append(
        f"Named: {sum(p['named'] for p in report['photos'])} of {len(report['photos'])} photos"
        + (f"; {sum(p['named'] for p in known)} of {len(known)} whose object the model was trained on." if known else ".")
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    reports = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or "metrics" not in data and "photos" not in data:
            # e.g. the "<report>-coco-results.json" beside each report, which a glob also matches
            print(f"skipped {path}: not a report of captioner evaluate", file=sys.stderr)
            continue
        reports.append(data)
    tables = [results_table([r for r in reports if "photos" not in r])] if any("photos" not in r for r in reports) else []
    tables += [photos_table(r) for r in reports if "photos" in r]
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
