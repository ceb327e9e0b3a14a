"""The shipped COCO detector on real photographs, its box decoding, and its folder checks."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captioner.recognition import detector as detector_module
from captioner.recognition.detector import (
    DEFAULT_DIR,
    DetectorLoadError,
    ObjectDetector,
    decode,
)

PHOTOS = Path(__file__).resolve().parents[2] / "data" / "photos"
# Eileen Collins in skimage.data.astronaut(), by looking: head to the bottom edge, flag to helmet.
ASTRONAUT_BOX = (20, 15, 360, 512)


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    return ObjectDetector.from_pretrained()


@pytest.fixture(scope="module")
def astronaut(photos) -> Image.Image:
    return photos["astronaut"]


def photo(name: str) -> Image.Image:
    with Image.open(PHOTOS / name) as image:
        return image.convert("RGB")


def test_the_shipped_labels_are_cocos_80_classes(detector):
    assert len(detector.labels) == 80
    assert detector.labels[:4] == ["person", "bicycle", "car", "motorcycle"]
    assert detector.labels[16] == "dog" and detector.labels[-1] == "toothbrush"


def test_finds_the_astronaut_with_a_box_around_her(detector, astronaut):
    people = detector.detect(astronaut, labels={"person"})
    assert len(people) == 1, people
    assert people[0].score > 0.6
    assert iou(people[0].box, ASTRONAUT_BOX) > 0.8, people[0].box


@pytest.mark.parametrize(
    ("name", "label", "count"),
    [
        ("gc_dog.jpg", "dog", 1),
        ("sk_chelsea_cat.jpg", "cat", 1),
        ("gc_horses.jpg", "horse", 3),
        ("gc_sheep.jpg", "sheep", 1),
        ("sk_motorcycle.jpg", "motorcycle", 1),
    ],
)
def test_names_the_animal_or_vehicle_first_and_finds_no_person(detector, name, label, count):
    image = photo(name)
    found = detector.detect(image)
    assert found and found[0].label == label, found
    assert sum(d.label == label and d.score > 0.5 for d in found) == count, found
    assert not [d for d in found if d.label == "person"], found


def test_the_three_horses_stand_left_middle_right(detector):
    horses = sorted((d for d in detector.detect(photo("gc_horses.jpg"), min_score=0.5) if d.label == "horse"), key=lambda d: d.box[0])
    centres = [(d.box[0] + d.box[2]) / 2 for d in horses]
    # by looking at the 512x332 photo: horses centred near x = 125, 225 and 370
    assert np.allclose(centres, [125, 225, 370], atol=30), centres


@pytest.mark.parametrize("canvas_size", [(1100, 512), (512, 1300), (300, 700)])
def test_boxes_are_in_the_pixels_of_non_square_images(detector, astronaut, canvas_size):
    """The astronaut pasted into a wider or taller canvas (scaled to fit): her box moves with her."""
    width, height = canvas_size
    scale = min(1.0, width / 512, height / 512)
    side = round(512 * scale)
    offset = ((width - side) // 2, (height - side) // 3)
    canvas = Image.new("RGB", canvas_size, (90, 90, 90))
    canvas.paste(astronaut.resize((side, side), Image.BILINEAR), offset)
    (person,) = detector.detect(canvas, min_score=0.5, labels=["person"])
    expected = [offset[i % 2] + v * scale for i, v in enumerate(ASTRONAUT_BOX)]
    assert iou(person.box, expected) > 0.75, (person.box, expected)
    x0, y0, x1, y1 = person.box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_a_greyscale_photo_of_a_man_is_a_person(detector):
    from skimage import data

    people = detector.detect(Image.fromarray(data.camera()), labels=("person",))
    assert people and people[0].score > 0.6


def test_labels_filter_and_threshold(detector):
    image = photo("gc_horses.jpg")
    everything = detector.detect(image, min_score=0.3)
    horses = detector.detect(image, min_score=0.3, labels={"horse"})
    assert horses == [d for d in everything if d.label == "horse"]
    assert all(d.score >= 0.6 for d in detector.detect(image, min_score=0.6))
    assert detector.detect(image, labels=["giraffe"]) == []
    with pytest.raises(ValueError, match="unicorn"):
        detector.detect(image, labels=["person", "unicorn"])


def test_detect_batch_is_detect_per_image(detector, astronaut):
    images = [photo("gc_dog.jpg"), astronaut]
    assert detector.detect_batch(images) == [detector.detect(image) for image in images]
    assert detector.detect_batch([]) == []


def test_decode_reads_the_distance_distributions():
    """A cell whose four side distributions peak at known bins decodes to the box they say."""
    outputs = {}
    for stride in detector_module.STRIDES:
        cells = (detector_module.INPUT_SIZE // stride) ** 2
        outputs[f"scores_s{stride}"] = np.zeros((1, cells, 80), np.float32)
        outputs[f"boxes_s{stride}"] = np.full((1, cells, 44), -50.0, np.float32)
    logits = outputs["boxes_s16"][0].reshape(-1, 4, 11)
    cell = 3 * 26 + 5  # row 3, column 5 of the 26x26 grid: centre (88, 56)
    logits[cell, [0, 1, 2, 3], [2, 1, 4, 0]] = 50.0  # left 2, top 1, right 4, bottom 0 strides
    logits[cell, 3, 1] = 50.0  # bottom: half on bin 0, half on bin 1 -> 0.5 strides
    outputs["scores_s16"][0, cell, 17] = 0.9
    boxes, scores = decode(outputs)
    assert boxes.shape == (52 * 52 + 26 * 26 + 13 * 13, 4) and scores.shape == (boxes.shape[0], 80)
    index = 52 * 52 + cell
    np.testing.assert_allclose(boxes[index], [88 - 32, 56 - 16, 88 + 64, 56 + 8], atol=1e-3)
    assert scores[index, 17] == pytest.approx(0.9)


def test_decoding_chosen_cells_gives_their_rows_of_the_full_decoding(detector, astronaut):
    """detect() decodes only the cells whose score passes: the same boxes as decoding them all."""
    pixels, _ = detector_module.preprocess(astronaut)
    outputs = detector.run_model(pixels)
    boxes, scores = decode(outputs)
    cells = np.array([0, 5, 52 * 52 + 7, 52 * 52 + 26 * 26 + 168])
    some, same_scores = decode(outputs, cells=cells)
    np.testing.assert_allclose(some, boxes[cells], atol=1e-4)
    np.testing.assert_array_equal(same_scores, scores)


def test_a_smaller_input_reads_the_same_weights(astronaut):
    """At 320 px (the graph's input and resize sizes rewritten) the astronaut is still found, in place."""
    small = ObjectDetector.from_pretrained(input_size=320, threads=1)
    (person,) = small.detect(astronaut, min_score=0.5, labels=["person"])
    assert iou(person.box, ASTRONAUT_BOX) > 0.75, person.box
    assert small.session.get_inputs()[0].shape[2:] == [320, 320]


@pytest.mark.parametrize(
    ("option", "value", "message"), [("input_size", 400, "positive multiple of 32"), ("threads", 0, "positive whole number")]
)
def test_bad_detector_options_are_named(option, value, message):
    with pytest.raises(ValueError, match=f"{option} {value}: must be a {message}"):
        ObjectDetector.from_pretrained(**{option: value})


def test_one_session_when_threads_start_together(monkeypatch):
    fresh = ObjectDetector.from_pretrained()
    made = []
    real = ObjectDetector._make_session

    def counting(self):
        made.append(1)
        return real(self)

    monkeypatch.setattr(ObjectDetector, "_make_session", counting)
    image = Image.new("RGB", (64, 48), (30, 120, 200))
    results, barrier = [], threading.Barrier(4)

    def run():
        barrier.wait()
        results.append(fresh.detect(image))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(results) == 4


# -- the folder ---------------------------------------------------------------------------------
def copy_of_shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "detector"
    folder.mkdir()
    for name in ("model.onnx", "labels.json"):
        shutil.copyfile(DEFAULT_DIR / name, folder / name)
    return folder


def test_a_copied_folder_loads(tmp_path):
    assert ObjectDetector.from_pretrained(copy_of_shipped(tmp_path)).labels[0] == "person"


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DetectorLoadError, match=r"detector folder .*nowhere.*not found"):
        ObjectDetector.from_pretrained(tmp_path / "nowhere")


@pytest.mark.parametrize(("missing", "message"), [("model.onnx", "model.onnx is missing"), ("labels.json", "labels.json is missing")])
def test_missing_file_is_named(tmp_path, missing, message):
    folder = copy_of_shipped(tmp_path)
    (folder / missing).unlink()
    with pytest.raises(DetectorLoadError, match=message):
        ObjectDetector.from_pretrained(folder)


@pytest.mark.parametrize(
    ("text", "message"), [("{not json", "not valid JSON"), ('{"person": 0}', "list of class names"), ('["person", "person"]', "twice")]
)
def test_bad_labels_are_refused(tmp_path, text, message):
    folder = copy_of_shipped(tmp_path)
    (folder / "labels.json").write_text(text)
    with pytest.raises(DetectorLoadError, match=message):
        ObjectDetector.from_pretrained(folder)


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    folder = copy_of_shipped(tmp_path)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to(DEFAULT_DIR / "model.onnx")
    with pytest.raises(DetectorLoadError, match="symbolic link"):
        ObjectDetector.from_pretrained(folder)


def test_a_broken_model_file_is_named_on_first_use(tmp_path):
    folder = copy_of_shipped(tmp_path)
    (folder / "model.onnx").write_bytes(b"this is not an ONNX graph")
    broken = ObjectDetector.from_pretrained(folder)
    with pytest.raises(DetectorLoadError, match=r"model\.onnx: ONNX Runtime cannot load it"):
        broken.detect(Image.new("RGB", (32, 32)))


def test_labels_that_do_not_match_the_model_are_named(tmp_path):
    folder = copy_of_shipped(tmp_path)
    (folder / "labels.json").write_text('["person", "bicycle"]')
    with pytest.raises(DetectorLoadError, match="80 classes, but labels.json names 2"):
        ObjectDetector.from_pretrained(folder).detect(Image.new("RGB", (32, 32)))


def test_bad_inputs_are_named(detector):
    with pytest.raises(TypeError, match="image 1: a PIL.Image.Image is needed, not str"):
        detector.detect_batch([Image.new("RGB", (8, 8)), "photo.jpg"])
    with pytest.raises(ValueError, match="min_score 1.5"):
        detector.detect(Image.new("RGB", (8, 8)), min_score=1.5)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_any_image_mode_is_read_as_rgb(detector, astronaut, mode):
    (person,) = detector.detect(astronaut.resize((400, 300)).convert(mode), min_score=0.5, labels=["person"])
    assert person.box[2] <= 400 and person.box[3] <= 300


@pytest.mark.parametrize("size", [(1, 1), (900, 3), (3, 700)])
def test_tiny_and_thin_images_give_boxes_inside_them(detector, astronaut, size):
    for d in detector.detect(astronaut.resize(size), min_score=0.05):
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 <= x1 <= size[0] and 0 <= y0 <= y1 <= size[1]
