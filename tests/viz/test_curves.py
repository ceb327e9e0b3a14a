import json

import numpy as np
from PIL import Image

from captioner.viz.curves import plot_learning_curves, read_metrics


def _records(grounded: bool):
    out = []
    for epoch, (ce, cider, named) in enumerate([(1.2, 2.0, 0.5), (0.8, 3.1, 0.7), (0.6, 3.4, float("nan"))], start=1):
        val = {"CIDEr-D": cider}
        if grounded:
            val["grounding"] = {"objects_named_rate": named, "attention": {"peak_in_box_rate": 0.6 + epoch / 20}}
        out.append({"epoch": epoch, "ce": ce, "loss": ce, "val": val})
    return out


def test_read_metrics_keeps_the_epoch_records(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join([json.dumps(r) for r in _records(False)] + ["not json", "[1, 2]", '{"no": "epoch"}']) + "\n")
    assert [r["epoch"] for r in read_metrics(path)] == [1, 2, 3]


def test_curves_draw_a_panel_per_kind_of_figure(tmp_path):
    plain = plot_learning_curves(_records(False), tmp_path / "plain.png", title="run")
    grounded = plot_learning_curves(_records(True), tmp_path / "grounded.png")
    with Image.open(plain) as a, Image.open(grounded) as b:
        assert a.format == b.format == "PNG"
        assert b.width > a.width * 1.4  # a third panel for naming and attention correctness
        plain_pixels, grounded_pixels = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
    # every panel drew its first line: each panel's column of the picture holds matplotlib's default
    # line colour (C0, #1f77b4), not only white, grey and the "no values yet" text
    for pixels, n_panels in ((plain_pixels, 2), (grounded_pixels, 3)):
        line = np.abs(pixels.astype(int) - [0x1F, 0x77, 0xB4]).sum(axis=-1) < 40
        for column in np.array_split(line, n_panels, axis=1):
            assert column.sum() > 100
    assert not list(tmp_path.glob("*.tmp"))


def test_curves_of_no_records_say_so(tmp_path):
    out = plot_learning_curves([], tmp_path / "empty.png")
    with Image.open(out) as im:
        assert im.format == "PNG"
