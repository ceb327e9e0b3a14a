import numpy as np
import pytest
import torch

from captioner.decoder import Decoder
from captioner.train import TrainConfig, caption_loss, pad_captions, train_decoder
from captioner.vocab import Vocabulary
from tests.conftest import small_decoder_config

V = 10


class _Model(torch.nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.decoder = Decoder(small_decoder_config(V, **kw))


def _task(n=48, seed=0):
    """Each image holds one object (a distinct feature pattern per class) at a random grid cell;
    its caption names the class."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(0, 0.1, size=(n, 12, 16)).astype(np.float16)
    pairs = []
    for i in range(n):
        cls = i % 3
        feats[i, rng.integers(12), cls * 5 : cls * 5 + 5] += 3.0
        words = [4 + cls, 7 + cls, 4 + cls]
        pairs.append((i, [Vocabulary.start_id] + words + [Vocabulary.end_id]))
    return feats, pairs


@pytest.mark.parametrize("hard", [False, True])
def test_training_learns_an_image_dependent_caption(hard):
    torch.manual_seed(0)
    model = _Model(hard_attention=hard)
    feats, pairs = _task()
    history = train_decoder(model, feats, pairs, TrainConfig(epochs=25, batch_size=16, lr=1e-2, doubly_stochastic=0.0), progress=False)
    assert history[-1]["ce"] < 0.25 * history[0]["ce"]
    if hard:
        assert "reinforce" in history[-1] and "baseline" in history[-1]
    from captioner.beam_search import greedy_decode

    hyps = greedy_decode(model.decoder, torch.from_numpy(feats[:3].astype(np.float32)), max_len=5)
    assert [hyps.tokens[i, 0, :3].tolist() for i in range(3)] == [[4, 7, 4], [5, 8, 5], [6, 9, 6]]


def test_doubly_stochastic_penalty_matches_the_formula():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(V))
    feats = torch.randn(2, 12, 16)
    captions = pad_captions([[1, 4, 5, 2], [1, 6, 2]])
    out = dec(feats, captions)
    loss, logs, _ = caption_loss(out, captions[:, 1:], TrainConfig(doubly_stochastic=1.0), None)
    mass0 = out.alphas[0, :3].sum(0)  # 3 real targets
    mass1 = out.alphas[1, :2].sum(0)  # 2 real targets, then padding (ignored)
    expected = (((1 - mass0) ** 2).sum() + ((1 - mass1) ** 2).sum()) / 2
    assert logs["attention_penalty"] == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(logs["ce"] + expected.item(), rel=1e-5)


def test_training_is_reproducible_with_a_seed():
    feats, pairs = _task(n=24)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = _Model()
        train_decoder(model, feats, pairs, TrainConfig(epochs=2, batch_size=8, seed=5), progress=False)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])
