"""One workload per process, for timing whole processes against each other (two checkouts, A B A B,
with any process timer, e.g. `/usr/bin/time -v`):

    python -m benchmarks.one_process train default 8    # 8 decoder training steps, shipped decoder sizes
    python -m benchmarks.one_process train paper 3      # 3 steps at the paper's sizes
    python -m benchmarks.one_process beam float          # beam search, paper sizes (or: int8)
    python -m benchmarks.one_process caption torch       # full captioning, shipped objects model (or: onnx)

The loops are the benchmarks' own (bench_train's step, bench_beam_search, bench_inference), cut
down to a fixed amount of work, so that a process's time is the figure.
"""

from __future__ import annotations

import sys

import torch

from benchmarks.common import REFERENCE_SIZES, photos

SIZES = {
    "paper": REFERENCE_SIZES["paper"],
    "default": dict(embed_dim=128, hidden_dim=256, attention_dim=128, feature_dim=432, vocab_size=60),
}


def train(sizes: str, steps: int) -> None:
    """Decoder training steps (fast teacher forcing, Adam), batch 32, captions of 5-20 tokens."""
    from captioner.model.config import ModelConfig
    from captioner.model.decoder import Decoder
    from captioner.training.config import TrainConfig
    from captioner.training.fast_decoder import teacher_forcing
    from captioner.training.loop import caption_loss

    config = ModelConfig(grid_size=(14, 14), dropout=0.5, **SIZES[sizes])
    decoder = Decoder(config).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    B, T = 32, 20
    feats = torch.randn(B, 196, config.feature_dim)
    captions = torch.randint(4, config.vocab_size, (B, T + 1))
    captions[:, 0] = 1
    lengths = torch.randint(5, T + 1, (B,))
    captions[torch.arange(B), lengths] = 2  # <end>
    captions[torch.arange(T + 1) > lengths.unsqueeze(1)] = 0  # <pad>
    for _ in range(steps):
        out = teacher_forcing(decoder, feats, captions)
        loss, _, _ = caption_loss(out, captions[:, 1:], TrainConfig(), None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def beam(kind: str) -> None:
    """Beam 3, 20 steps, paper sizes: 32 images batched, then 8 one at a time; twice."""
    from captioner.decoding.search import beam_search
    from captioner.model.config import ModelConfig
    from captioner.model.decoder import Decoder
    from captioner.runtime.inference import decoding_step

    decoder = Decoder(ModelConfig(grid_size=(14, 14), max_len=20, **SIZES["paper"])).eval()
    with torch.no_grad():
        decoder.out.bias[2] = -1e4  # no caption ends early
    step = decoding_step(decoder, int8=kind == "int8")
    feats = torch.randn(32, 196, SIZES["paper"]["feature_dim"])
    for _ in range(2):
        beam_search(step, feats, beam_size=3, max_len=20)
        for i in range(8):
            beam_search(step, feats[i : i + 1], beam_size=3, max_len=20)


def caption(backend: str) -> None:
    """The shipped objects model (naming off): 16 photos one at a time, then in one batch."""
    from captioner import Captioner

    images = photos(16)
    cap = Captioner.from_pretrained("objects", device="cpu", naming=False, onnx=backend == "onnx")
    for image in images:
        cap.caption([image])
    cap.caption(images)


if __name__ == "__main__":
    torch.set_num_threads(2)
    torch.manual_seed(0)
    what, *args = sys.argv[1:]
    {"train": lambda: train(args[0], int(args[1])), "beam": lambda: beam(args[0]), "caption": lambda: caption(args[0])}[what]()
