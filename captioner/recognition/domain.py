"""Is an image from the decoder's own world? An out-of-distribution test on the encoder's features.

The objects model's decoder was trained on generated scenes (stamps pasted on background photos).
There its words are right and it knows it (94 % of its words with p >= 0.5 are right); on real
photographs it is often confidently wrong. So naming trusts the decoder's words in its own world
and the ImageNet classifier outside it, and needs to tell the two apart per image.

The test: the cosine distance of an image's pooled features to its k nearest training scenes (k-NN
out-of-distribution detection, as in Sun et al., ICML 2022), against a threshold set at a high
percentile of the same distance on held-out generated scenes, so that nearly every scene of the
decoder's world passes. The features are the annotations' channels below the classifier's head
(EfficientNet-Lite0's level-3 features: textures and edges, where pasted stamps differ from
photographs), averaged over the grid. The references and the threshold are fitted once by
scripts/fit_decoder_domain.py and shipped beside the model (decoder_domain.safetensors).
Measured there: a Mahalanobis distance to the scenes' mean (full covariance with shrinkage, or
probabilistic PCA) let a quarter or more of the real photos pass; k-NN 5 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DOMAIN_FILE = "decoder_domain.safetensors"


def pooled_features(features: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, L, D) annotations -> (B, channels): the first `channels` channels averaged over the grid."""
    return features[..., :channels].float().mean(dim=-2)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class DecoderDomain:
    """k-NN test of whether annotations come from the decoder's training world."""

    def __init__(self, references: torch.Tensor, threshold: float, k: int = 5):
        if references.ndim != 2 or len(references) < k:
            raise ValueError(f"references must be (N >= k={k}, C), got {tuple(references.shape)}")
        self.references = _unit(references.float())  # (N, C) pooled features of training scenes
        self.threshold, self.k = float(threshold), int(k)

    @property
    def channels(self) -> int:
        return self.references.shape[1]

    @torch.inference_mode()
    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """(B, L, D) annotations -> (B,) mean cosine distance to the k nearest references."""
        pooled = _unit(pooled_features(features, self.channels).cpu())
        similarity = pooled @ self.references.t()
        return 1.0 - similarity.topk(self.k, dim=-1).values.mean(dim=-1)

    def contains(self, features: torch.Tensor) -> torch.Tensor:
        """(B,) bool: which images lie in the decoder's world."""
        return self.distances(features) <= self.threshold

    def save(self, path: str | Path, about: str = "") -> None:
        from safetensors.torch import save_file

        metadata = {"threshold": repr(self.threshold), "k": str(self.k), "about": about}
        save_file({"references": self.references.half().contiguous()}, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> DecoderDomain:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if "references" not in f.keys() or "threshold" not in metadata:
                raise ValueError(f"{path}: not a decoder domain file (needs references and a threshold)")
            references = f.get_tensor("references")
        return cls(references, float(metadata["threshold"]), int(metadata.get("k", 5)))

    @classmethod
    def for_model_dir(cls, directory: str | Path) -> DecoderDomain | None:
        """The model folder's fitted domain, or None when it has none (then no image counts as the
        decoder's world). Raises CheckpointError for a file that is a link out of the folder."""
        path = Path(directory) / DOMAIN_FILE
        if not (path.is_file() or path.is_symlink()):
            return None
        from captioner.modeldir.folder_files import model_file

        return cls.load(model_file(directory, DOMAIN_FILE))

    @classmethod
    def fit(cls, train: torch.Tensor, held_out: torch.Tensor, k: int = 5, percentile: float = 99.0) -> DecoderDomain:
        """From pooled features (N, C) of training scenes (the references) and of held-out scenes
        (the threshold: that percentile of their distances)."""
        domain = cls(_unit(train.float()).half(), threshold=0.0, k=k)  # as saved: float16
        similarity = _unit(held_out.float()) @ domain.references.t()
        distances = 1.0 - similarity.topk(k, dim=-1).values.mean(dim=-1)
        domain.threshold = float(np.percentile(distances.numpy(), percentile))
        return domain
