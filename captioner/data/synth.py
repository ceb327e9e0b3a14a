"""Grounded synthetic scenes: images of coloured shapes with captions whose words point at boxes.

Each scene holds one to four objects (a shape in a colour and a size) drawn with PIL on a varied
background (plain, gradient, noise, clouds, stripes, checks). Every object's colour contrasts with the
background pixels under it, and objects never overlap: their boxes are separated by a gap, so every
word that names an object has one clear box, and any two objects stand in at least one spatial
relation ("to the left of", "to the right of", "above", "below") judged from those boxes.

Each scene gets five different reference captions built from a few templates, e.g.
    "a small red circle and two blue squares"
    "there is a green star above a big white cross and a black diamond"
Every caption names every object's colour and shape (sizes appear in some captions), always in one
order: by colour (as listed in COLORS), then shape, then size. The order is fixed because the
model attends for word t from its state before word t-1 is known (Xu et al.'s formulation): if
captions named the objects in a random order, the model could not know which object comes next,
and its attention for an object's words would have to spread over every object it might name. For each
caption, `grounding[i]` says which object token i names: an object index for the size, colour and
shape words of a single object, a sorted list of indices for those words in a plural count phrase
("two red circles" -> [0, 2] on "red" and "circles"), and None for every other word (determiners,
number words, relation words, "and", ...).

Splits: train, val and test never contain a colour-shape pair from HELD_OUT_PAIRS; every image of the
compositional split `comp` contains at least one object with a held-out pair (its other objects use
training pairs). Every colour and every shape still occurs in training with other partners.

On disk (Karpathy split format plus grounding), written by generate_dataset():
    OUT/images/<split>_<nnnnnn>.png                       RGB PNG
    OUT/dataset_synth.json
    {"dataset": "synth", "version": VERSION, "seed": S, "image_size": [W, H],
     "held_out_pairs": [["red", "triangle"], ...],
     "images": [{"imgid": 0, "filename": "train_000000.png", "filepath": "images", "split": "train",
                 "sentids": [0, 1, 2, 3, 4],
                 "sentences": [{"raw": "...", "tokens": [...], "grounding": [null, 0, ...],
                                "imgid": 0, "sentid": 0}, ...],
                 "objects": [{"shape": "circle", "color": "red", "size": "small",
                              "box": [x0, y0, x1, y1], "rgb": [r, g, b]}, ...]}, ...]}
Boxes are tight pixel boxes, half-open like PIL's getbbox: the object covers columns x0 <= x < x1
and rows y0 <= y < y1, so `array[y0:y1, x0:x1]` crops it. `rgb` is the exact fill colour drawn.

Everything is deterministic by seed: each image draws from its own generator seeded by
(seed, split, index), so the same seed gives byte-identical PNGs and identical JSON.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from captioner.data.scenes import Sentence, distinct_sentences, write_dataset

# -----------------------------------------------------------------------------
# vocabulary pieces

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "diamond": "diamonds", "cross": "crosses"}
# Saturated, well separated fill colours; backgrounds are muted (see _muted_color) so that a colour
# word always refers to an object, never to the background.
COLORS = {
    "red": (215, 35, 35),
    "green": (35, 160, 55),
    "blue": (35, 75, 215),
    "yellow": (245, 220, 30),
    "purple": (140, 50, 190),
    "orange": (250, 130, 0),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SIZES = ("small", "large")
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
# Side of an object's drawing square as a fraction of min(W, H); the ranges are far apart so that
# the largest small object is clearly smaller than the smallest large one.
SIZE_RANGES = {"small": (0.13, 0.17), "large": (0.27, 0.33)}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}
RELATIONS = {  # relation -> its words in "A <words> B"
    "left": ("to", "the", "left", "of"),
    "right": ("to", "the", "right", "of"),
    "above": ("above",),
    "below": ("below",),
}
LEAD_INS = ((), ("there", "is"), ("an", "image", "of"), ("a", "picture", "of"))
SPLITS = ("train", "val", "test", "comp")
BACKGROUNDS = ("plain", "gradient", "noise", "clouds", "stripes", "checks")

# Each colour with one shape, every shape held out at most twice, so each colour keeps five shapes
# and each shape keeps six or seven colours in training.
HELD_OUT_PAIRS = (
    ("red", "triangle"),
    ("green", "star"),
    ("blue", "circle"),
    ("yellow", "cross"),
    ("purple", "square"),
    ("orange", "diamond"),
    ("white", "star"),
    ("black", "circle"),
)

# 2: captions name objects in mention order (1: in random order). Images are the same in both.
VERSION = 2
MAX_OBJECTS = 4
MAX_TOKENS = 16  # captions longer than this are redrawn with a shorter template
N_CAPTIONS = 5
MIN_CONTRAST = 80.0  # min RGB distance between a fill colour and (99% of) the background under it
COLOR_JITTER = 8  # per-channel jitter of fill colours, so colours are categories, not exact values
GAP_FRACTION = 0.03  # empty space kept between any two objects' boxes, as a fraction of min(W, H)
EDGE_MARGIN = 2  # pixels kept free at the image border
P_GROUP = 0.35  # chance that a scene with 2+ objects has several of one colour-shape pair
PLACEMENT_TRIES = 200  # positions tried per object before the whole scene is redrawn
SCENE_TRIES = 100


def vocabulary():
    """Every word a caption can contain, sorted."""
    words = {"a", "an", "one", "and"} | set(NUMBER_WORDS.values()) | {"are"}
    words |= set(COLORS) | set(SHAPES) | set(PLURALS.values())
    words |= {w for ws in SIZE_WORDS.values() for w in ws}
    words |= {w for ws in RELATIONS.values() for w in ws}
    words |= {w for ws in LEAD_INS for w in ws}
    return sorted(words)


def training_pairs():
    """Colour-shape pairs allowed in train/val/test (all pairs minus HELD_OUT_PAIRS)."""
    return [(c, s) for c in COLORS for s in SHAPES if (c, s) not in HELD_OUT_PAIRS]


# -----------------------------------------------------------------------------
# data structures


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    box: tuple  # (x0, y0, x1, y1), half-open pixel box
    rgb: tuple  # exact fill colour drawn

    def to_json(self):
        return {"shape": self.shape, "color": self.color, "size": self.size, "box": list(self.box), "rgb": list(self.rgb)}


@dataclass
class Scene:
    image: Image.Image
    objects: list
    sentences: list


# -----------------------------------------------------------------------------
# small helpers


def _as_generator(rng):
    """Accept a numpy Generator, a random.Random or an int seed; return a numpy Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, random.Random):
        return np.random.default_rng(rng.getrandbits(128))
    return np.random.default_rng(rng)


def _pick(rng, seq):
    # index instead of rng.choice so we get the element itself (a str/tuple), not a numpy scalar
    return seq[int(rng.integers(len(seq)))]


def _muted_color(rng):
    """A background colour of any brightness but low saturation."""
    base = rng.uniform(0, 255, 3)
    brightness = rng.uniform(20, 235)
    return np.clip(brightness + rng.uniform(0.0, 0.5) * (base - base.mean()), 0, 255)


# -----------------------------------------------------------------------------
# drawing


def make_background(rng, width, height):
    """A random background as a uint8 array (H, W, 3)."""
    kind = _pick(rng, BACKGROUNDS)
    c1, c2 = _muted_color(rng), _muted_color(rng)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    along = xx * np.cos(angle) + yy * np.sin(angle)  # coordinate along a random direction
    if kind == "plain":
        t = np.zeros((height, width))
    elif kind == "gradient":
        t = (along - along.min()) / max(np.ptp(along), 1e-6)
    elif kind == "noise":
        t = np.zeros((height, width))  # strong per-pixel noise is added below
    elif kind == "clouds":
        cells = int(rng.integers(3, 9))
        coarse = rng.random((cells, cells)).astype(np.float32)
        t = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
        t = np.clip(t, 0, 1)
    elif kind == "stripes":
        period = rng.uniform(6, 28)
        t = (np.floor(along / period) % 2).astype(np.float32)
    else:  # checks
        cell = rng.uniform(6, 32)
        t = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
    img = c1 + t[..., None] * (c2 - c1)
    noise_std = rng.uniform(20, 40) if kind == "noise" else rng.uniform(0, 10)
    img = img + noise_std * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def shape_mask(shape, side):
    """Boolean (side, side) mask of `shape` drawn to fill a side x side square."""
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    s = side - 1  # PIL's coordinates are inclusive
    c = s / 2  # centre
    if shape == "circle":
        draw.ellipse([0, 0, s, s], fill=255)
    elif shape == "square":
        draw.rectangle([0, 0, s, s], fill=255)
    elif shape == "triangle":  # equilateral, apex up, centred vertically
        h = s * np.sqrt(3) / 2
        top = (s - h) / 2
        draw.polygon([(c, top), (s, top + h), (0, top + h)], fill=255)
    elif shape == "diamond":
        draw.polygon([(c, 0), (s, c), (c, s), (0, c)], fill=255)
    elif shape == "star":  # five points, inner radius 0.45 of the outer one
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, c, 0.45 * c)
        draw.polygon(list(zip(c + radii * np.cos(angles), c + radii * np.sin(angles))), fill=255)
    elif shape == "cross":  # a plus sign with arms a third of the side thick
        t = s / 3
        draw.rectangle([0, c - t / 2, s, c + t / 2], fill=255)
        draw.rectangle([c - t / 2, 0, c + t / 2, s], fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.asarray(canvas) > 0


# -----------------------------------------------------------------------------
# scene layout


def _sample_plan(rng, n_objects, compositional):
    """List of (color, shape, size) for one scene; see the module docstring for the split rules."""
    pairs = training_pairs()
    pairs_plan = []
    if n_objects >= 2 and rng.random() < P_GROUP:  # several objects of one colour-shape pair
        k = int(rng.integers(2, n_objects + 1))
        group_pair = _pick(rng, HELD_OUT_PAIRS if compositional else pairs)
        pairs_plan += [group_pair] * k
    elif compositional:
        pairs_plan.append(_pick(rng, HELD_OUT_PAIRS))
    while len(pairs_plan) < n_objects:
        pairs_plan.append(_pick(rng, pairs))
    order = rng.permutation(n_objects)  # so the held-out or grouped object is not always first
    return [(*pairs_plan[i], _pick(rng, SIZES)) for i in order]


def _place(rng, background, plan):
    """Place the plan's objects without overlap, each on background that contrasts with its colour.

    Returns a list of (SceneObject, x, y, mask) with the mask's top-left corner at (x, y), or None
    when some object found no valid spot."""
    height, width = background.shape[:2]
    unit = min(width, height)
    gap = max(2, round(GAP_FRACTION * unit))
    placed = []
    for color, shape, size in plan:
        lo, hi = SIZE_RANGES[size]
        side = max(4, round(rng.uniform(lo, hi) * unit))
        mask = shape_mask(shape, side)
        rgb = np.clip(np.array(COLORS[color]) + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, 3), 0, 255)
        for _ in range(PLACEMENT_TRIES):
            x = int(rng.integers(EDGE_MARGIN, width - side - EDGE_MARGIN + 1))
            y = int(rng.integers(EDGE_MARGIN, height - side - EDGE_MARGIN + 1))
            # drawing squares kept `gap` apart on at least one axis, so every pair has a clear relation
            if any(
                x < px + m.shape[1] + gap and px < x + side + gap and y < py + m.shape[0] + gap and py < y + side + gap
                for _, px, py, m in placed
            ):
                continue
            under = background[y : y + side, x : x + side][mask].astype(np.float32)
            # at most 1% of the pixels under the object may be close to its colour: a fraction rather
            # than none, so that a few noise pixels do not veto a spot
            close = ((under - rgb) ** 2).sum(axis=1) < MIN_CONTRAST**2
            if close.mean() <= 0.01:
                break
        else:
            return None
        ys, xs = np.nonzero(mask)
        box = (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)
        placed.append((SceneObject(shape, color, size, box, tuple(int(v) for v in rgb)), x, y, mask))
    return placed


def relations(a, b):
    """Relations r for which "a <r> b" holds: a's box lies entirely on that side of b's."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    out = []
    if ax1 <= bx0:
        out.append("left")
    if ax0 >= bx1:
        out.append("right")
    if ay1 <= by0:
        out.append("above")
    if ay0 >= by1:
        out.append("below")
    return out


# -----------------------------------------------------------------------------
# captions: built as lists of (word, grounding) pairs so grounding can never drift from the words


def _noun_phrase(rng, objects, members, with_size):
    """'a small red circle' / 'two red circles' for the objects `members` (all one colour-shape)."""
    obj = objects[members[0]]
    ref = members[0] if len(members) == 1 else sorted(members)
    det = _pick(rng, ("a", "a", "a", "one")) if len(members) == 1 else NUMBER_WORDS[len(members)]
    words = [(det, None)]
    if with_size:
        words.append((_pick(rng, SIZE_WORDS[obj.size]), ref))
    words.append((obj.color, ref))
    words.append((obj.shape if len(members) == 1 else PLURALS[obj.shape], ref))
    if det == "a" and words[1][0][0] in "aeiou":
        words[0] = ("an", None)
    return words


def mention_order(objects, indices=None):
    """`indices` (default: all objects) in the order captions name them: colour, shape, size."""
    indices = range(len(objects)) if indices is None else indices
    colors, sizes = list(COLORS), list(SIZES)
    return sorted(indices, key=lambda i: (colors.index(objects[i].color), SHAPES.index(objects[i].shape), sizes.index(objects[i].size)))


def _group_phrases(rng, objects, indices, with_size):
    """Noun phrases for `indices` in mention order, objects of one description merged into a count phrase."""
    groups = {}
    for i in mention_order(objects, indices):
        o = objects[i]
        key = (o.size, o.color, o.shape) if with_size else (o.color, o.shape)
        groups.setdefault(key, []).append(i)
    return [_noun_phrase(rng, objects, members, with_size) for members in groups.values()]


def _join(phrases):
    """'A B and C': phrases run together, 'and' before the last one (tokens carry no commas)."""
    words = []
    for k, phrase in enumerate(phrases):
        if k and k == len(phrases) - 1:
            words.append(("and", None))
        words += phrase
    return words


def _caption(rng, objects, with_size):
    """One caption naming every object, from a randomly chosen template."""
    n = len(objects)
    template = _pick(rng, ("list", "relation") if n >= 2 else ("list",))
    if template == "list":
        phrases = _group_phrases(rng, objects, range(n), with_size)
        lead = _pick(rng, LEAD_INS)
        if lead == ("there", "is") and phrases[0][0][0] in NUMBER_WORDS.values():
            lead = ("there", "are")
        return [(w, None) for w in lead] + _join(phrases)
    # "A <relation> B and <the rest>", A and B single objects: A the first in mention order, B the
    # next one that looks different, since "a red circle above a red circle" says little (it is
    # still true and grounded, so allowed when nothing differs)
    order = mention_order(objects)
    a = order[0]
    differing = [i for i in order[1:] if (objects[i].color, objects[i].shape) != (objects[a].color, objects[a].shape)]
    b = (differing or order[1:])[0]
    rel = _pick(rng, relations(objects[a], objects[b]))
    lead = _pick(rng, ((), ("there", "is")))
    words = [(w, None) for w in lead] + _noun_phrase(rng, objects, [a], with_size)
    words += [(w, None) for w in RELATIONS[rel]] + _noun_phrase(rng, objects, [b], with_size)
    rest = [i for i in range(n) if i not in (a, b)]
    if rest:
        words += [("and", None)] + _join(_group_phrases(rng, objects, rest, with_size))
    return words


def make_captions(rng, objects, n=N_CAPTIONS):
    """`n` different captions (as far as the scene allows) of at most MAX_TOKENS tokens."""
    rng = _as_generator(rng)
    sentences = distinct_sentences(lambda: _caption(rng, objects, with_size=rng.random() < 0.5), n, MAX_TOKENS)
    while len(sentences) < n:  # tiny scenes may run out of wordings; the shortest always fits
        sentences.append(Sentence.from_words(_join(_group_phrases(rng, objects, range(len(objects)), with_size=False))))
    return sentences


# -----------------------------------------------------------------------------
# public entry points


def _size_tuple(image_size):
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def generate_scene(rng, image_size=(224, 224), compositional=False, n_objects=None, n_captions=N_CAPTIONS):
    """One scene: Scene(image=PIL RGB image, objects=[SceneObject], sentences=[Sentence]).

    rng: numpy Generator, random.Random or int seed. image_size: (W, H) or an int.
    compositional: False -> no held-out colour-shape pair; True -> at least one (the `comp` split).
    n_objects: 1..4, or None to draw it uniformly."""
    rng = _as_generator(rng)
    width, height = _size_tuple(image_size)
    for _ in range(SCENE_TRIES):
        background = make_background(rng, width, height)
        n = int(rng.integers(1, MAX_OBJECTS + 1)) if n_objects is None else n_objects
        placed = _place(rng, background, _sample_plan(rng, n, compositional))
        if placed is not None:
            break
    else:
        raise RuntimeError(f"could not lay out a scene in {SCENE_TRIES} tries; is image_size too small?")
    pixels = background.copy()
    for obj, x, y, mask in placed:
        pixels[y : y + mask.shape[0], x : x + mask.shape[1]][mask] = obj.rgb
    objects = [obj for obj, *_ in placed]
    return Scene(Image.fromarray(pixels, "RGB"), objects, make_captions(rng, objects, n_captions))


def split_scene(split, index, seed=0, image_size=224):
    """Scene `index` of `split` exactly as generate_dataset(seed=seed) writes it, made in memory."""
    # one generator per image: an image depends only on (seed, split, index)
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    return generate_scene(rng, image_size, compositional=(split == "comp"))


def _write_scene(job):
    """Draw and save one scene (a worker's task); returns what the JSON needs of it."""
    split, i, seed, size, images_dir = job
    scene = split_scene(split, i, seed, size)
    filename = f"{split}_{i:06d}.png"
    scene.image.save(Path(images_dir) / filename, format="PNG")
    return {
        "split": split,
        "filename": filename,
        "sentences": [s.to_json() for s in scene.sentences],
        "objects": [o.to_json() for o in scene.objects],
    }


def generate_dataset(out_dir, n_train=8000, n_val=1000, n_test=1000, n_comp=1000, seed=0, image_size=224, progress=False, workers=1):
    """Write OUT/images/<split>_<n>.png and OUT/dataset_synth.json; return the JSON's path.
    `workers` > 1 draws scenes in that many processes; the output is the same byte for byte."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    width, height = _size_tuple(image_size)
    counts = {"train": n_train, "val": n_val, "test": n_test, "comp": n_comp}
    jobs = [(split, i, seed, (width, height), str(out_dir / "images")) for split in SPLITS for i in range(counts[split])]
    header = {
        "dataset": "synth",
        "version": VERSION,
        "seed": seed,
        "image_size": [width, height],
        "held_out_pairs": [list(p) for p in HELD_OUT_PAIRS],
    }
    return write_dataset(out_dir / "dataset_synth.json", header, jobs, _write_scene, workers, progress, desc="synth")
