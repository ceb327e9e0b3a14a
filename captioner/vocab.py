"""Tokenising captions and mapping words to ids.

Tokenisation uses nltk's Treebank tokenizer, which is rule-based and needs no downloaded nltk
data (word_tokenize would need the punkt model). Punctuation is dropped: captions are scored
without it by the coco-caption tools anyway.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)


@lru_cache(maxsize=1)
def _treebank():
    """NLTK's Treebank tokenizer, stateless and shared (its regexes compile once). Imported on first
    use: importing nltk takes seconds, which loading a model to caption with never needs."""
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of a caption, without punctuation."""
    return [tok for tok in _treebank().tokenize(text.lower()) if any(ch.isalnum() for ch in tok)]


class Vocabulary:
    """Word <-> id mapping with <pad>=0, <start>=1, <end>=2, <unk>=3."""

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with the special tokens {SPECIALS}, got {words[:4]}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary contains duplicate words")
        self.itos = words
        self.stoi = {w: i for i, w in enumerate(words)}

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_freq: int = 5, max_size: int | None = None) -> Vocabulary:
        """Words seen at least `min_freq` times in the tokenised captions, most frequent first."""
        counts = Counter(tok for caption in captions for tok in caption)
        kept = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_freq and w not in SPECIALS]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Sequence[str], max_len: int | None = None) -> list[int]:
        """<start> w1 .. wn <end>, with unknown words as <unk>; at most `max_len` words kept."""
        if max_len is not None:
            tokens = tokens[:max_len]
        return [self.start_id] + [self.stoi.get(t, self.unk_id) for t in tokens] + [self.end_id]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words for ids, stopping at <end> and skipping <start>/<pad>."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.start_id, self.pad_id):
                continue
            words.append(self.itos[i])
        return words

    def to_json(self) -> dict:
        return {"format": "captioner-vocab", "version": 1, "words": self.itos}

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        if not isinstance(data, dict) or not isinstance(data.get("words"), list):
            raise ValueError("vocabulary JSON must be an object with a 'words' list")
        return cls([str(w) for w in data["words"]])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_json(json.loads(Path(path).read_text()))


def pad_captions(captions: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    """Token id sequences -> (B, longest) long tensor, right-padded with `pad_id`."""
    if not captions:
        return torch.zeros(0, 0, dtype=torch.long)
    return pad_sequence([torch.as_tensor(c, dtype=torch.long) for c in captions], batch_first=True, padding_value=pad_id)
