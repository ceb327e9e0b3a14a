"""The public entry point: `Captioner` turns images into captions with per-word attention.

    cap = Captioner.from_pretrained()            # the shipped default model
    results = cap.caption(["a.jpg", pil_image, raw_bytes], beam_size=3)
    results[0].text, results[0].words, results[0].attention, results[0].score

The command line and the web app are thin layers over these calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from captioner.model.beam_search import Hypotheses, beam_search, greedy_decode
from captioner.model.checkpoint import WEIGHTS_FILE, CheckpointError, load_model, save_model
from captioner.model.config import ModelConfig
from captioner.images import ImageInput, load_image
from captioner.model.model import CaptionModel
from captioner.model.preprocess import Preprocessor
from captioner.vocab import Vocabulary

# Where the shipped default model lives (inside the installed package).
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = "soft"
SHIPPED_MODELS = ("soft", "hard")  # soft and hard attention, trained on the synthetic scenes


class NoDefaultModelError(CheckpointError):
    """No trained default model ships with this installation."""


@dataclass
class CaptionResult:
    text: str
    words: list[str]
    attention: np.ndarray  # float32 (len(words), H, W); each map sums to 1
    score: float  # length-normalised log-probability
    betas: np.ndarray  # float32 (len(words),): the gate value beta_t for each word
    finished: bool = True  # False if the caption hit max_len before <end>
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # n-best (text, score), best first

    def to_json(self, include_attention: bool = False) -> dict:
        data = {
            "caption": self.text,
            "words": self.words,
            "score": round(float(self.score), 6),
            "betas": [round(float(b), 4) for b in self.betas],
            "finished": self.finished,
        }
        if self.alternatives:
            data["alternatives"] = [{"caption": t, "score": round(float(s), 6)} for t, s in self.alternatives]
        if include_attention:
            data["attention"] = self.attention.tolist()
        return data


def default_model_dir(name: str = DEFAULT_MODEL) -> Path:
    return PRETRAINED_DIR / name


def shipped_models() -> list[str]:
    """Names of the shipped models present in this installation (soft first)."""
    return [n for n in SHIPPED_MODELS if (PRETRAINED_DIR / n / WEIGHTS_FILE).is_file()]


class Captioner:
    def __init__(self, model: CaptionModel, vocab: Vocabulary, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.preprocessor = Preprocessor.for_config(model.config)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    # -- construction and persistence --------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str | torch.device | None = None) -> "Captioner":
        """Load a saved model directory, or a shipped model: the default ("soft") when `path` is
        None, or by name ("soft", "hard") when no directory of that name exists here."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if path is None or (isinstance(path, str) and path in SHIPPED_MODELS and not Path(path).exists()):
            path = default_model_dir(path or DEFAULT_MODEL)
            if not (path / WEIGHTS_FILE).is_file():
                raise NoDefaultModelError(
                    f"no default model yet: {path} does not exist. Train one (captioner train) and pass its "
                    f"directory, e.g. Captioner.from_pretrained('runs/my-model') or --model runs/my-model"
                )
        model, vocab = load_model(path, device=device)
        return cls(model, vocab, device=device)

    @classmethod
    def from_config(cls, config: ModelConfig, vocab: Vocabulary, device: str | torch.device = "cpu") -> "Captioner":
        """A new, untrained model (random decoder, pretrained encoder) for the given vocabulary."""
        import dataclasses

        return cls(CaptionModel(dataclasses.replace(config, vocab_size=len(vocab))), vocab, device=device)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write config.json, vocab.json and model.safetensors (optionally in float16)."""
        return save_model(self.model, self.vocab, directory, dtype=dtype)

    # -- inference ------------------------------------------------------------------------------

    def load(self, images: Sequence[ImageInput]) -> list[Image.Image]:
        return [load_image(im) for im in images]

    @torch.inference_mode()
    def encode(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """RGB PIL images -> annotations (B, L, D)."""
        pixels = self.preprocessor.normalize(self.preprocessor.stack([self.preprocessor.resize(im) for im in images]).to(self.device))
        return self.model.encode(pixels)

    @torch.inference_mode()
    def decode(
        self, features: torch.Tensor, beam_size: int = 3, max_len: int | None = None, n_best: int = 1, length_penalty: float = 1.0
    ) -> list[CaptionResult]:
        """Captions for a batch of annotations (B, L, D). beam_size=1 is greedy decoding."""
        max_len = max_len or self.config.max_len
        decoder = self.model.decoder
        if beam_size == 1 and n_best == 1:
            hyps = greedy_decode(decoder, features, max_len=max_len, length_penalty=length_penalty)
        else:
            hyps = beam_search(decoder, features, beam_size=beam_size, max_len=max_len, length_penalty=length_penalty, n_best=n_best)
        return self._results(hyps)

    def caption(
        self,
        images: Sequence[ImageInput] | ImageInput,
        beam_size: int = 3,
        max_len: int | None = None,
        n_best: int = 1,
        batch_size: int = 32,
        length_penalty: float = 1.0,
    ) -> list[CaptionResult]:
        """Caption images given as paths, raw bytes or PIL images. Raises ImageLoadError (naming
        the image) for an input that is not a readable image."""
        if isinstance(images, (str, Path, bytes, bytearray, Image.Image)):
            images = [images]
        results: list[CaptionResult] = []
        for start in range(0, len(images), batch_size):
            batch = self.load(images[start : start + batch_size])
            features = self.encode(batch)
            results.extend(self.decode(features, beam_size=beam_size, max_len=max_len, n_best=n_best, length_penalty=length_penalty))
        return results

    def _results(self, hyps: Hypotheses) -> list[CaptionResult]:
        H, W = self.config.grid_size
        tokens = hyps.tokens.cpu().numpy()
        lengths = hyps.lengths.cpu().numpy()
        scores = hyps.scores.float().cpu().numpy()
        alphas = hyps.alphas.float().cpu().numpy()
        betas = hyps.betas.float().cpu().numpy()
        finished = hyps.finished.cpu().numpy()
        results = []
        for b in range(tokens.shape[0]):
            texts = [" ".join(self.vocab.itos[t] for t in tokens[b, k, : lengths[b, k]]) for k in range(tokens.shape[1])]
            n = int(lengths[b, 0])
            words = [self.vocab.itos[t] for t in tokens[b, 0, :n]]
            results.append(
                CaptionResult(
                    text=texts[0],
                    words=words,
                    attention=alphas[b, 0, :n].reshape(n, H, W).astype(np.float32),
                    score=float(scores[b, 0]),
                    betas=betas[b, 0, :n].astype(np.float32),
                    finished=bool(finished[b, 0]),
                    alternatives=[(texts[k], float(scores[b, k])) for k in range(tokens.shape[1])] if tokens.shape[1] > 1 else [],
                )
            )
        return results
