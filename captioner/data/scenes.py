"""What the generated worlds (shapes in captioner.data.synth, photographed objects in
captioner.data.objects) share: drawing scenes in worker processes and writing them as one file in
the Karpathy split format, images and sentences numbered in order."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sentence:
    """A reference caption: its tokens, and per token the object it names (an object index, a
    sorted list of indices for a plural, or None)."""

    tokens: tuple
    grounding: tuple

    @classmethod
    def from_words(cls, words: list) -> Sentence:
        """From a list of (word, grounding) pairs, the form captions are built in, so that grounding
        can never drift from the words."""
        return cls(tuple(w for w, _ in words), tuple(g for _, g in words))

    @property
    def raw(self):
        return " ".join(self.tokens)

    def to_json(self):
        return {"raw": self.raw, "tokens": list(self.tokens), "grounding": list(self.grounding)}


def distinct_sentences(draw: Callable[[], list], n: int, max_tokens: int, tries_per_sentence: int = 20) -> list[Sentence]:
    """Up to `n` different captions of at most `max_tokens` tokens, each drawn by `draw()` (a list
    of (word, grounding) pairs); fewer when the scene has fewer wordings."""
    sentences, seen = [], set()
    for _ in range(tries_per_sentence * n):
        words = draw()
        if len(words) > max_tokens:
            continue
        sentence = Sentence.from_words(words)
        if sentence.raw not in seen:
            seen.add(sentence.raw)
            sentences.append(sentence)
            if len(sentences) == n:
                break
    return sentences


def write_dataset(
    path: str | Path,
    header: dict,
    jobs: Sequence,
    write_scene: Callable[..., dict],
    workers: int = 1,
    progress: bool = False,
    desc: str = "scenes",
    initializer: Callable | None = None,
    initargs: tuple = (),
) -> Path:
    """Run `write_scene(job)` for every job (in `workers` spawned processes, each set up by
    `initializer(*initargs)`), then write {**header, "images": [...]} to `path`.

    write_scene saves one image and returns {"split", "filename", "sentences", ...}: its other keys
    (objects, boxes, ...) are kept in the image's entry. The output does not depend on `workers`:
    results come back in job order."""
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(workers, initializer, initargs))
            scenes = pool.imap(write_scene, jobs, chunksize=16)
        else:
            if initializer is not None:
                initializer(*initargs)
            scenes = map(write_scene, jobs)
        if progress:
            from tqdm import tqdm

            scenes = tqdm(scenes, total=len(jobs), desc=desc, unit="img")
        images, sentid = [], 0
        for imgid, scene in enumerate(scenes):
            sentences = []
            for s in scene.pop("sentences"):
                sentences.append({**s, "imgid": imgid, "sentid": sentid})
                sentid += 1
            images.append(
                {
                    "imgid": imgid,
                    "filename": scene.pop("filename"),
                    "filepath": "images",
                    "split": scene.pop("split"),
                    "sentids": [s["sentid"] for s in sentences],
                    "sentences": sentences,
                    **scene,
                }
            )
    path = Path(path)
    path.write_text(json.dumps({**header, "images": images}) + "\n")
    return path
