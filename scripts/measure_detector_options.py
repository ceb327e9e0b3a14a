"""What the people detector's speed options cost in what it finds (issue 22's speed bar).

    python scripts/measure_detector_options.py [--sizes 416 384 320 256] [--int8] [--repeats 9]

For each variant of the shipped NanoDet (captioner/pretrained/detector): the network's time per
image on ONNX Runtime (median of interleaved rounds, one image at a time, 2 threads unless
--threads), and what it finds at score >= 0.5 on data/photos against the shipped model at 416 px:
the people photos where a person is found, the photos where a person is found that have none, and
the shipped model's detections found again (same class, IoU >= 0.5). Variants: the float model
reading smaller squares (ObjectDetector(input_size=...)); with --int8, the same model statically
quantised to int8 by onnxruntime.quantization (QDQ, weights per channel; activations calibrated
on data/photos-tuning and the Tux Paint template photos, never on data/photos), with every
convolution quantised and with the first convolution and the three output convolutions left in
float. Whether captions keep their figures is scripts/measure_naming.py's to say.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from PIL import Image

from captioner.recognition.detector import DEFAULT_DIR, MODEL_FILE, ObjectDetector, preprocess

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = [ROOT / "data" / "photos-tuning", ROOT / ".cache" / "tuxpaint" / "usr" / "share" / "tuxpaint" / "templates"]


def float_weights(model_bytes: bytes) -> onnx.ModelProto:
    """The shipped graph with its float16 weights widened once (the quantiser reads initializers, not
    Casts of them), and every node named (the quantiser excludes nodes by name)."""
    model = onnx.load_from_string(model_bytes)
    weights = {t.name: t for t in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Cast" and node.input[0] in weights:
            widened = numpy_helper.to_array(weights[node.input[0]]).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(widened, node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    used = {name for node in model.graph.node for name in node.input}
    for tensor in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(tensor)
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{i}"
    return model


def int8_model(model_bytes: bytes, keep_float: bool, folder: Path) -> bytes:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = float_weights(model_bytes)
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    outputs = [n.name for n in convs if weights[n.input[1]].shape[0] == 80 + 44]  # scores and box logits per stride
    source, target = folder / "float.onnx", folder / f"int8_{keep_float}.onnx"
    onnx.save(model, source)
    photos = sorted(p for folder in CALIBRATION for p in folder.glob("*.jpg"))

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.paths = iter(photos)

        def get_next(self):
            path = next(self.paths, None)
            return None if path is None else {"input_1": preprocess(_read(path))[0]}

    quantize_static(
        str(source),
        str(target),
        Photos(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=[convs[0].name, *outputs] if keep_float else [],
    )
    print(f"int8 calibrated on {len(photos)} photos ({', '.join(str(f.relative_to(ROOT)) for f in CALIBRATION)})")
    return target.read_bytes()


def _read(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[416, 384, 320, 256])
    parser.add_argument("--int8", action="store_true", help="also the int8 variants (at 416 px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(ROOT / "data" / "photos" / "photos.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    images = [_read(ROOT / "data" / "photos" / r["file"]) for r in rows]
    people = [r["kind"] == "people" for r in rows]
    shipped = ObjectDetector.from_pretrained(threads=args.threads)
    model_bytes = (DEFAULT_DIR / MODEL_FILE).read_bytes()
    variants = {f"float {s} px": ObjectDetector(model_bytes, shipped.labels, DEFAULT_DIR, s, args.threads) for s in args.sizes}
    if args.int8:
        with tempfile.TemporaryDirectory() as tmp:
            for keep_float, name in ((False, "int8, every conv"), (True, "int8, first and output convs in float")):
                quantised = int8_model(model_bytes, keep_float, Path(tmp))
                variants[f"{name} 416 px"] = ObjectDetector(quantised, shipped.labels, DEFAULT_DIR, 416, args.threads)

    reference = [shipped.detect(image, min_score=0.5) for image in images]
    inputs = {name: preprocess(images[0], d.input_size)[0] for name, d in variants.items()}
    for name, d in variants.items():
        d.run_model(inputs[name])  # sessions made, warmed up
    times = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved: the machine's speed drifts
        for name, d in variants.items():
            start = time.perf_counter()
            d.run_model(inputs[name])
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["float 416 px"]) if "float 416 px" in times else None
    total = sum(map(len, reference))
    print(f"{len(images)} photos of data/photos ({sum(people)} of people); shipped model at 416 px: {total} detections at score >= 0.5")
    print("variant | network ms/img | vs 416 | people photos with a person | other photos with a person | shipped detections found")
    for name, d in variants.items():
        found = [d.detect(image, min_score=0.5) for image in images]
        with_person = [any(x.label == "person" for x in f) for f in found]
        again = sum(any(x.label == y.label and iou(x.box, y.box) >= 0.5 for y in f) for r, f in zip(reference, found) for x in r)
        t = statistics.median(times[name])
        print(
            f"{name} | {1000 * t:.1f} | {f'{t / base:.2f}x' if base else '-'} | "
            f"{sum(w for w, p in zip(with_person, people) if p)}/{sum(people)} | "
            f"{sum(w for w, p in zip(with_person, people) if not p)} | {again}/{total}",
            flush=True,
        )


if __name__ == "__main__":
    main()
