"""A Markdown results table from `captioner evaluate` reports.

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


def results_table(reports: list[dict]) -> str:
    header = ["model", "split", "beam", *METRICS, "objects named %", "mass in box %", "uniform %", "peak in box %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sorted(reports, key=lambda r: (r.get("hard_attention", False), r.get("split", ""), r.get("beam_size", 0))):
        m, g = r["metrics"], r.get("grounding", {})
        att = g.get("attention", {})
        row = [
            "hard" if r.get("hard_attention") else "soft", r.get("split", "?"), str(r["beam_size"]),
            *[_fmt(m.get(k), scale=1.0 if k == "CIDEr-D" else 100.0) for k in METRICS],
            _fmt(g.get("objects_named_rate")), _fmt(att.get("mass_in_box")), _fmt(att.get("baseline")), _fmt(att.get("peak_in_box_rate")),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    print(results_table([json.loads(Path(p).read_text()) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
