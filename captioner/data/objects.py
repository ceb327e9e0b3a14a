"""Grounded scenes of real photographed objects: Tux Paint stamps pasted on background photographs.

The shapes scenes (captioner.data.synth) measure attention exactly but teach nothing about photographs.
These scenes teach object names: one to three cut-out photographs of everyday objects and animals
(the Tux Paint stamps, Debian package tuxpaint-stamps-default, GPL-2) are scaled, flipped, lightly
rotated and colour-jittered, and pasted without overlap on a background: a random crop of a real
photograph (Tux Paint's templates, scikit-image's textures) or a plain/gradient/noise background
shared with the shapes scenes. Which stamps are used, and the name, synonyms and category a caption
may use for each, come from a reviewed table (data/objects/stamps.csv): photographs only, since the
model's target is photographs and drawings look different to the encoder.

Captions name every object, largest first: the order is fixed for the reason the shapes scenes
give (the attention for word t is computed before word t-1 is known, so the model must be able to
tell which object comes next), and largest-first puts a photo's main object first. An object is
named by its name ("a garbage truck") or, sometimes, by its category ("a vehicle"), so that a model
that cannot tell two birds apart still learns a true word. Two objects may be related ("a tiger to
the left of a mug"); a background with a name may be said ("by the sea", "on the rocks").
Every token that names an object is grounded to it (`grounding`, as in the shapes scenes), and every
object carries its box AND its mask (COCO run-length encoding, read with pycocotools.mask).

Splits: train/val/test, and `heldout`: scenes in which some object pair, or some object and named
background, appear together that never appear together in train/val/test (about 12 % of all pairs
and of all object-background combinations are held out, chosen by a hash of their names).

On disk: OUT/images/<split>_<nnnnnn>.jpg and OUT/dataset_objects.json in the Karpathy format,
{"dataset": "objects", "version", "seed", "backgrounds", "images": [{..., "sentences": [{"tokens",
"raw", "grounding"}], "objects": [{"name", "category", "synonyms", "stamp", "box", "mask"}]}]}.
Everything is deterministic by seed, image by image, as in the shapes scenes.
"""

from __future__ import annotations

import csv
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from captioner.data.grounding import GroundedPhrase
from captioner.data.scenes import distinct_sentences, write_dataset
from captioner.data.synth import RELATIONS, _as_generator, _join, _pick, make_background, relations
from captioner.modeldir.directory import KNOWN_OBJECTS_FILE

VERSION = 2  # 2: a name of several words is one token
SPLITS = ("train", "val", "test", "heldout")
STAMPS_SUBDIR = Path("usr/share/tuxpaint/stamps")
TEMPLATES_SUBDIR = Path("usr/share/tuxpaint/templates")
TUXPAINT_HINT = (
    "get the Tux Paint stamps and backgrounds (Debian packages, GPL-2; no root needed): "
    "apt-get download tuxpaint-stamps-default tuxpaint-data && "
    "for f in tuxpaint-*.deb; do dpkg-deb -x $f DIR; done"
)

# Background photographs: the name a caption may use for each (None: none is said).
# Tux Paint's `jellyfish` and `sheep` templates are left out: they show objects themselves.
TEMPLATES = {
    "ocean_waves.jpg": ("by", "the", "sea"),
    "ocean_splash.jpg": ("by", "the", "sea"),
    "cliff.jpg": ("by", "a", "cliff"),
    "lighthouse.jpg": ("by", "a", "lighthouse"),
    "rocks.jpg": ("on", "the", "rocks"),
    "mudstone.jpg": ("on", "the", "rocks"),
    "redwoods_above.jpg": ("in", "the", "forest"),
    "trees_above.jpg": ("in", "the", "forest"),
    "trees_at_dusk.jpg": ("at", "dusk"),
    "sun_behind_clouds.jpg": ("in", "the", "sky"),
    "sun_behind_leaves.jpg": ("in", "the", "leaves"),
    "mossy_log.jpg": ("on", "a", "log"),
    "mossy_bark.jpg": ("on", "tree", "bark"),
    "burnt_bark.jpg": ("on", "tree", "bark"),
    "corn_maze.jpg": ("in", "a", "corn", "field"),
    "spiders_web.jpg": None,
    "wool_mill_machine.jpg": None,
}
# scikit-image's bundled texture photographs (grayscale; tinted when used).
TEXTURES = {"grass": ("on", "the", "grass"), "gravel": ("on", "gravel"), "brick": ("by", "a", "brick", "wall")}
P_PHOTO_BACKGROUND = 0.75  # otherwise a generated plain/gradient/noise/... background (no name)
P_BLUR = 0.2  # a photo background blurred as if out of focus (its name is then not said)
P_SAY_BACKGROUND = 0.5  # per caption, when the background has a name
P_CATEGORY = 0.15  # per object and caption: named by its category instead of its name
HELD_OUT_PERCENT = 12
OBJECT_COUNTS = ((1, 0.5), (2, 0.33), (3, 0.17))
# An object's longer side as a fraction of the image's shorter side, by number of objects.
SCALES = {1: (0.45, 0.92), 2: (0.3, 0.52), 3: (0.25, 0.42)}
IMAGE_SIZES = (((256, 256), 0.5), ((320, 240), 0.25), ((240, 320), 0.25))
MAX_ROTATION = 12.0  # degrees
GAP_FRACTION = 0.02
PLACEMENT_TRIES = 100
SCENE_TRIES = 200
MAX_TOKENS = 18
N_CAPTIONS = 5
JPEG_QUALITY = 90

# How a caption names a category; categories not listed are never said.
CATEGORY_WORDS = {
    "animal": ("an", "animal"),
    "bird": ("a", "bird"),
    "fish": ("a", "fish"),
    "insect": ("an", "insect"),
    "fruit": ("a", "fruit"),
    "vegetable": ("a", "vegetable"),
    "food": ("some", "food"),
    "flower": ("a", "flower"),
    "plant": ("a", "plant"),
    "tree": ("a", "tree"),
    "vehicle": ("a", "vehicle"),
    "aircraft": ("an", "aircraft"),
    "boat": ("a", "boat"),
    "tool": ("a", "tool"),
    "instrument": ("an", "instrument"),
    "clothing": ("some", "clothing"),
    "hat": ("a", "hat"),
    "dish": ("a", "dish"),
    "ball": ("a", "ball"),
    "toy": ("a", "toy"),
    "furniture": ("some", "furniture"),
    "building": ("a", "building"),
    "light": ("a", "light"),
}
# Names that take "some" rather than "a".
PLURAL_NAMES = {
    "scissors",
    "pliers",
    "binoculars",
    "pants",
    "trousers",
    "grapes",
    "cherries",
    "glasses",
    "shorts",
    "jeans",
    "tongs",
    "goggles",
    "headphones",
    "clothespins",
    "fireworks",
}
LEAD_INS = ((), ("a", "photo", "of"), ("a", "picture", "of"), ("there", "is"))


class ObjectsDataError(RuntimeError):
    """The stamps, their table or the backgrounds are missing or unusable."""


# -----------------------------------------------------------------------------
# the stamps table


@dataclass(frozen=True)
class StampInfo:
    file: str  # relative to the stamps folder
    name: str  # what captions call it
    synonyms: tuple  # other names a caption may use
    category: str
    nomirror: bool  # never mirrored left-right (text, logos, or Tux Paint's own `nomirror` flag)

    @property
    def words(self) -> tuple:
        return tuple(self.name.split())


def default_table() -> Path:
    """The reviewed stamps table committed with the project."""
    return Path(__file__).resolve().parents[2] / "data" / "objects" / "stamps.csv"


def read_table(path: str | Path | None = None) -> list[StampInfo]:
    """The rows of the stamps table marked use=yes."""
    path = Path(path) if path is not None else default_table()
    if not path.is_file():
        raise ObjectsDataError(
            f"stamps table not found: {path} (the reviewed table is data/objects/stamps.csv "
            f"in captioner's repository; pass its path, e.g. --table)"
        )
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                if row["use"].strip() != "yes":
                    continue
                name = " ".join(row["name"].lower().split())
                if not name:
                    raise ValueError("empty name")
                synonyms = tuple(s.strip().lower() for s in (row.get("synonyms") or "").split("|") if s.strip())
                rows.append(
                    StampInfo(row["file"].strip(), name, synonyms, row["category"].strip(), (row.get("nomirror") or "").strip() == "yes")
                )
            except (KeyError, ValueError, AttributeError) as exc:
                raise ObjectsDataError(f"{path}, line {line}: bad row ({exc})") from exc
    if not rows:
        raise ObjectsDataError(f"{path} marks no stamp use=yes")
    return rows


def write_known_objects(model_dir: str | Path, table: str | Path | None = None) -> Path:
    """Record in a model directory which objects (names, synonyms, categories) it was trained on,
    from the stamps table, so that people can be told what it knows."""
    objects = {}
    for stamp in read_table(table):
        entry = objects.setdefault(stamp.name, {"name": stamp.name, "category": stamp.category, "synonyms": []})
        entry["synonyms"] += [s for s in stamp.synonyms if s not in entry["synonyms"]]
    path = Path(model_dir) / KNOWN_OBJECTS_FILE
    path.write_text(json.dumps({"objects": sorted(objects.values(), key=lambda o: (o["category"], o["name"]))}, indent=1) + "\n")
    return path


def known_objects(model_dir: str | Path) -> dict[str, list[str]] | None:
    """{category: [names]} of the objects a model directory says it was trained on, or None when
    it does not say (models trained on other data)."""
    from captioner.modeldir.checkpoint import CheckpointError
    from captioner.modeldir.folder_files import read_model_json

    path = Path(model_dir) / KNOWN_OBJECTS_FILE
    if not (path.is_symlink() or path.exists()):
        return None
    try:
        entries = read_model_json(model_dir, KNOWN_OBJECTS_FILE)["objects"]
        by_category = {}
        for entry in entries:
            by_category.setdefault(str(entry["category"]), []).append(str(entry["name"]))
    except CheckpointError as exc:  # a link out of the folder, not UTF-8, nested too deeply
        raise ObjectsDataError(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ObjectsDataError(f"{path}: not a list of known objects ({exc})") from exc
    return by_category


def held_out(*names: str) -> bool:
    """Whether this object pair / object-background combination is kept out of training
    (a fixed hash of the sorted names, so every run and machine agree)."""
    key = "|".join(sorted(names)).encode()
    return zlib.crc32(key) % 100 < HELD_OUT_PERCENT


# -----------------------------------------------------------------------------
# the world: stamps and backgrounds loaded once per process


@dataclass
class SceneObject:
    info: StampInfo
    box: tuple  # (x0, y0, x1, y1), half-open, tight around the mask
    mask: np.ndarray  # bool (H, W) of the whole image

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def to_json(self) -> dict:
        from pycocotools import mask as mask_utils

        rle = mask_utils.encode(np.asfortranarray(self.mask.astype(np.uint8)))
        return {
            "name": self.info.name,
            "category": self.info.category,
            "synonyms": list(self.info.synonyms),
            "stamp": self.info.file,
            "box": list(self.box),
            "mask": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
        }


@dataclass
class Scene:
    image: Image.Image
    objects: list
    sentences: list
    background: str


@dataclass
class World:
    """What scenes are made of. `root` is a folder where the Debian packages tuxpaint-stamps-default
    and tuxpaint-data were unpacked (it holds usr/share/tuxpaint/)."""

    root: Path
    table: Path | None = None
    stamps: list = field(init=False)
    names: list = field(init=False)
    _images: dict = field(init=False, default_factory=dict)
    _backgrounds: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.root = Path(self.root)
        stamps_dir, templates_dir = self.root / STAMPS_SUBDIR, self.root / TEMPLATES_SUBDIR
        for folder in (stamps_dir, templates_dir):
            if not folder.is_dir():
                raise ObjectsDataError(f"{folder} not found: {TUXPAINT_HINT}")
        missing = [name for name in TEMPLATES if not (templates_dir / name).is_file()]
        if missing:
            raise ObjectsDataError(f"background photos missing from {templates_dir}: {missing}; {TUXPAINT_HINT}")
        self.stamps = read_table(self.table)
        missing = [s.file for s in self.stamps if not (stamps_dir / s.file).is_file()]
        if missing:
            raise ObjectsDataError(f"{len(missing)} stamps of the table are not in {stamps_dir}, e.g. {missing[:3]}")
        self.names = sorted({s.name for s in self.stamps})
        self.by_name = {n: [s for s in self.stamps if s.name == n] for n in self.names}
        self.background_names = sorted(TEMPLATES) + sorted(TEXTURES)
        self.held_out_pairs = [(a, b) for k, a in enumerate(self.names) for b in self.names[k + 1 :] if held_out(a, b)]
        self.held_out_backgrounds = [(n, b) for n in self.names for b in self.background_names if held_out(n, b)]

    def stamp_image(self, info: StampInfo) -> Image.Image:
        """The stamp as RGBA, cropped to its visible pixels."""
        if info.file not in self._images:
            with Image.open(self.root / STAMPS_SUBDIR / info.file) as im:
                im = im.convert("RGBA")
            bbox = im.getchannel("A").point(lambda a: 255 if a >= 128 else 0).getbbox()
            self._images[info.file] = im.crop(bbox) if bbox else im
        return self._images[info.file]

    def background_photo(self, name: str) -> Image.Image:
        if name not in self._backgrounds:
            if name in TEXTURES:
                from skimage import data as skdata

                im = Image.fromarray(getattr(skdata, name)()).convert("RGB")
            else:
                with Image.open(self.root / TEMPLATES_SUBDIR / name) as im:
                    im = im.convert("RGB")
                if name == "mossy_bark.jpg":  # black bars above and below the photo
                    im = im.crop((0, int(0.1 * im.height), im.width, int(0.9 * im.height)))
            self._backgrounds[name] = im
        return self._backgrounds[name]

    def phrase(self, background: str):
        return TEMPLATES.get(background) or TEXTURES.get(background)


# -----------------------------------------------------------------------------
# drawing


def _background(rng, world: World, name: str, width: int, height: int) -> tuple[Image.Image, bool]:
    """The background image and whether its name may be said."""
    if name == "generated":
        return Image.fromarray(make_background(rng, width, height), "RGB"), False
    photo = world.background_photo(name)
    # a random crop of 40-100 % of the photo's area at the output's aspect ratio
    aspect = width / height
    area = rng.uniform(0.4, 1.0) * photo.width * photo.height
    cw = min(photo.width, int(round(np.sqrt(area * aspect))))
    ch = min(photo.height, int(round(cw / aspect)))
    cw = min(cw, int(round(ch * aspect)))
    x0 = int(rng.integers(0, photo.width - cw + 1))
    y0 = int(rng.integers(0, photo.height - ch + 1))
    im = photo.crop((x0, y0, x0 + cw, y0 + ch)).resize((width, height), Image.BICUBIC)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if name in TEXTURES:  # grey textures get a light tint
        tint = Image.new("RGB", im.size, tuple(int(v) for v in rng.uniform(90, 255, 3)))
        im = Image.blend(im, Image.composite(tint, im, Image.new("L", im.size, 255)), 0.3)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    if rng.random() < P_BLUR:
        return im.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6))), False
    return im, True


def _transformed_stamp(rng, world: World, info: StampInfo, longer_side: int) -> Image.Image:
    im = world.stamp_image(info)
    if not info.nomirror and rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    scale = longer_side / max(im.size)
    im = im.resize((max(4, round(im.width * scale)), max(4, round(im.height * scale))), Image.BICUBIC)
    im = im.rotate(rng.uniform(-MAX_ROTATION, MAX_ROTATION), resample=Image.BICUBIC, expand=True)
    rgb, alpha = im.convert("RGB"), im.getchannel("A")
    rgb = ImageEnhance.Brightness(rgb).enhance(rng.uniform(0.75, 1.25))
    rgb = ImageEnhance.Contrast(rgb).enhance(rng.uniform(0.75, 1.25))
    rgb = ImageEnhance.Color(rgb).enhance(rng.uniform(0.7, 1.3))
    rgb.putalpha(alpha)
    bbox = alpha.point(lambda a: 255 if a >= 128 else 0).getbbox()
    return rgb.crop(bbox) if bbox else rgb


def _place(rng, world, canvas: Image.Image, chosen: list) -> list | None:
    """Paste the chosen stamps without overlapping boxes; return SceneObjects, or None if no room."""
    width, height = canvas.size
    unit = min(width, height)
    gap = max(2, round(GAP_FRACTION * unit))
    lo, hi = SCALES[len(chosen)]
    placed, pastes = [], []
    for info in chosen:
        for _ in range(PLACEMENT_TRIES):
            stamp = _transformed_stamp(rng, world, info, max(8, round(rng.uniform(lo, hi) * unit)))
            if stamp.width >= width - 2 or stamp.height >= height - 2:
                continue
            x = int(rng.integers(1, width - stamp.width))
            y = int(rng.integers(1, height - stamp.height))
            box = (x, y, x + stamp.width, y + stamp.height)
            if any(box[0] < b[2] + gap and b[0] < box[2] + gap and box[1] < b[3] + gap and b[1] < box[3] + gap for b, _ in pastes):
                continue
            pastes.append((box, stamp))
            break
        else:
            return None
    for (box, stamp), info in zip(pastes, chosen):
        canvas.paste(stamp, box[:2], stamp)
        mask = np.zeros((height, width), bool)
        mask[box[1] : box[3], box[0] : box[2]] = np.asarray(stamp.getchannel("A")) >= 128
        ys, xs = np.nonzero(mask)
        tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        placed.append(SceneObject(info, tight, mask))
    return placed


# -----------------------------------------------------------------------------
# what a scene shows


def _choose(rng, world: World, split: str) -> tuple[str, list]:
    """(background name, stamps) for one scene, respecting the held-out combinations: train, val
    and test scenes hold none; a heldout scene is built around one (drawn first)."""
    weights = [p for _, p in OBJECT_COUNTS]
    n = OBJECT_COUNTS[int(rng.choice(len(OBJECT_COUNTS), p=weights))][0]
    for _ in range(SCENE_TRIES):
        if split == "heldout":
            if not (world.held_out_pairs or world.held_out_backgrounds):
                raise ObjectsDataError("no held-out combination exists among these stamps and backgrounds")
            if world.held_out_pairs and (not world.held_out_backgrounds or (n >= 2 and rng.random() < 0.5)):
                names, background = list(_pick(rng, world.held_out_pairs)), None
                n = max(n, 2)
            else:
                name, background = _pick(rng, world.held_out_backgrounds)
                names = [name]
            others = [m for m in world.names if m not in names]
            names += [others[i] for i in rng.choice(len(others), size=n - len(names), replace=False)]
        else:
            background = None
            names = [world.names[i] for i in rng.choice(len(world.names), size=n, replace=False)]
        if background is None:
            background = _pick(rng, world.background_names) if rng.random() < P_PHOTO_BACKGROUND else "generated"
        combos = [(a, b) for k, a in enumerate(names) for b in names[k + 1 :]]
        if background != "generated":
            combos += [(name, background) for name in names]
        if split == "heldout" or not any(held_out(*c) for c in combos):
            order = rng.permutation(len(names))  # the held-out object is not always drawn first
            return background, [_pick(rng, world.by_name[names[i]]) for i in order]
    raise RuntimeError(f"could not draw a {split} scene in {SCENE_TRIES} tries")


def mention_order(objects: list) -> list[int]:
    """Largest object first (ties: leftmost)."""
    return sorted(range(len(objects)), key=lambda i: (-objects[i].area, objects[i].box[0]))


def _noun_phrase(rng, obj: SceneObject, ref: int) -> list:
    category = CATEGORY_WORDS.get(obj.info.category)
    if category is not None and rng.random() < P_CATEGORY:
        det, *noun = category
        return [(det, None)] + [(w, ref) for w in noun]
    words = obj.info.words
    if words[-1] in PLURAL_NAMES:
        det = "some"
    else:
        det = "an" if words[0][0] in "aeiou" else "a"
    # A name of several words ("garbage truck") is one token: the decoder then looks for the object
    # once, for the whole name (with one token per word, the later words attended anywhere).
    return [(det, None), (obj.info.name, ref)]


def _caption(rng, objects: list, background_words) -> list:
    order = mention_order(objects)
    phrases = [_noun_phrase(rng, objects[i], i) for i in order]
    if len(objects) >= 2 and rng.random() < 0.5:
        a, b = order[0], order[1]
        rel = _pick(rng, relations(objects[a], objects[b]) or ["and"])
        middle = [("and", None)] if rel == "and" else [(w, None) for w in RELATIONS[rel]]
        words = phrases[0] + middle + phrases[1]
        if len(phrases) > 2:
            words += [("and", None)] + phrases[2]
    else:
        lead = _pick(rng, LEAD_INS)
        if lead == ("there", "is") and phrases[0][0][0] == "some":
            lead = ("there", "are")
        words = [(w, None) for w in lead] + _join(phrases)
    if background_words and rng.random() < P_SAY_BACKGROUND:
        words += [(w, None) for w in background_words]
    return words


def make_captions(rng, objects: list, background_words, n: int = N_CAPTIONS) -> list:
    sentences = distinct_sentences(lambda: _caption(rng, objects, background_words), n, MAX_TOKENS)
    distinct = len(sentences)
    while len(sentences) < n:  # a one-object scene may have fewer wordings than n: repeat some
        sentences.append(sentences[len(sentences) % distinct])
    return sentences


def generate_scene(rng, world: World, split: str = "train") -> Scene:
    rng = _as_generator(rng)
    sizes = [s for s, _ in IMAGE_SIZES]
    width, height = sizes[int(rng.choice(len(sizes), p=[p for _, p in IMAGE_SIZES]))]
    for _ in range(SCENE_TRIES):
        background, chosen = _choose(rng, world, split)
        canvas, nameable = _background(rng, world, background, width, height)
        objects = _place(rng, world, canvas, chosen)
        if objects is not None:
            break
    else:
        raise RuntimeError(f"could not lay out a scene in {SCENE_TRIES} tries")
    words = world.phrase(background) if nameable else None
    return Scene(canvas, objects, make_captions(rng, objects, words), background)


def split_scene(world: World, split: str, index: int, seed: int = 0) -> Scene:
    """Scene `index` of `split` exactly as generate_dataset(seed=seed) writes it."""
    return generate_scene(np.random.default_rng([seed, SPLITS.index(split), index]), world, split)


# -----------------------------------------------------------------------------
# grounding generated captions (for evaluation)


def _object_phrases(obj: dict) -> list[tuple[tuple, bool]]:
    """The word sequences that name `obj`: (words, is_category)."""
    phrases = [(tuple(obj["name"].split()), False)]
    phrases += [(tuple(s.split()), False) for s in obj.get("synonyms", ())]
    category = CATEGORY_WORDS.get(obj.get("category"))
    if category is not None:
        phrases.append((tuple(category[1:]), True))
    return phrases


def ground_caption(words: list[str], objects: list[dict]) -> list[GroundedPhrase]:
    """Phrases of a generated caption that name exactly one object of the scene (its name, a
    synonym, or its category word when no other object shares the category); longest match first."""
    candidates = {}
    for i, obj in enumerate(objects):
        for phrase, _ in _object_phrases(obj):
            candidates.setdefault(phrase, set()).add(i)
    lengths = sorted({len(p) for p in candidates}, reverse=True)
    # Match word by word; a token may hold several words ("garbage truck"), so each word remembers its token.
    split = [(word, t) for t, token in enumerate(words) for word in token.split()]
    found, j = [], 0
    while j < len(split):
        for n in lengths:
            phrase = tuple(w for w, _ in split[j : j + n])
            fits = candidates.get(phrase)
            if len(phrase) == n and fits:
                if len(fits) == 1:
                    tokens = sorted({t for _, t in split[j : j + n]})
                    found.append(GroundedPhrase(tokens, sorted(fits), None, " ".join(phrase)))
                j += n
                break
        else:
            j += 1
    return found


def objects_named(words: list[str], objects: list[dict]) -> bool:
    """True when every object is named in the caption (by its name, a synonym or its category word)."""
    text = f" {' '.join(words)} "
    return all(any(f" {' '.join(p)} " in text for p, _ in _object_phrases(obj)) for obj in objects)


# -----------------------------------------------------------------------------
# writing a dataset

_WORKER_WORLD: World | None = None  # one per worker process, loaded once by _init_worker


def _init_worker(root, table):
    global _WORKER_WORLD
    _WORKER_WORLD = World(root, table)


def _write_scene(job):
    split, i, seed, images_dir = job
    scene = split_scene(_WORKER_WORLD, split, i, seed)
    filename = f"{split}_{i:06d}.jpg"
    scene.image.save(Path(images_dir) / filename, format="JPEG", quality=JPEG_QUALITY)
    return {
        "split": split,
        "filename": filename,
        "sentences": [s.to_json() for s in scene.sentences],
        "objects": [o.to_json() for o in scene.objects],
        "background": scene.background,
        "image_size": list(scene.image.size),
    }


def generate_dataset(
    out_dir, root, table=None, n_train=10000, n_val=500, n_test=1000, n_heldout=1000, seed=0, progress=False, workers=1
) -> Path:
    """Write OUT/images/<split>_<n>.jpg and OUT/dataset_objects.json; return the JSON's path.
    The output does not depend on `workers`."""
    world = World(root, table)  # checks the inputs before any worker starts
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    counts = {"train": n_train, "val": n_val, "test": n_test, "heldout": n_heldout}
    jobs = [(split, i, seed, str(out_dir / "images")) for split in SPLITS for i in range(counts[split])]
    header = {
        "dataset": "objects",
        "version": VERSION,
        "seed": seed,
        "names": world.names,
        "backgrounds": world.background_names,
        "held_out_percent": HELD_OUT_PERCENT,
    }
    return write_dataset(
        out_dir / "dataset_objects.json",
        header,
        jobs,
        _write_scene,
        workers,
        progress,
        desc="objects",
        initializer=_init_worker,
        initargs=(str(world.root), world.table),
    )
