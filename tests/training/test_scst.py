"""Self-critical sequence training: CIDEr-D through pycocoevalcap, sampling through the model's
step, both baselines, and the reward rising on a tiny task."""

import numpy as np
import pytest
import torch

from captioner.decoding.search import greedy_decode
from captioner.model.decoder import Decoder
from captioner.runtime.decoding_step import ReferenceStep
from captioner.training.scst import cider_d, sample_captions, self_critical_step
from captioner.vocab import SPECIALS, Vocabulary
from tests.conftest import LAB_VARIANTS, small_decoder_config

VOCAB = Vocabulary([*SPECIALS, *"red blue green circle square triangle big small".split()])
# Four images, two references each.
REFERENCES = [
    [["red", "circle"], ["big", "red", "circle"]],
    [["blue", "square"], ["big", "blue", "square"]],
    [["green", "triangle"], ["small", "green", "triangle"]],
    [["big", "red", "square"], ["red", "square"]],
]


def test_cider_d_is_coco_captions_scorer():
    from pycocoevalcap.cider.cider import Cider

    captions = [["red", "circle"], ["blue", "blue"], [], ["big", "red", "square"]]
    scores = cider_d(captions, REFERENCES)
    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(REFERENCES)}
    expected = Cider().compute_score(gts, {i: [" ".join(c)] for i, c in enumerate(captions)})[1]
    np.testing.assert_allclose(scores, expected)
    assert scores[0] > scores[1] and scores[2] == 0.0
    with pytest.raises(ValueError, match="reference"):
        cider_d([["red"]], [[]])


def test_samples_are_drawn_from_the_models_distribution():
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(VOCAB), max_len=1)).eval()
    feats = torch.randn(1, 12, 16).expand(3000, -1, -1)
    sampled = sample_captions(dec, feats, max_len=1, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(dec.step(torch.full((1,), 1), dec.init_state(feats[:1]), feats[:1], dec.attention.keys(feats[:1])).logits, -1)[0]
    probs[: Vocabulary.end_id] = 0  # never <pad> or <start>
    frequency = torch.bincount(sampled.tokens[:, 0], minlength=len(VOCAB)).float() / 3000
    torch.testing.assert_close(frequency, probs / probs.sum(), atol=0.03, rtol=0)
    torch.testing.assert_close(sampled.log_probs[:, 0], torch.log(probs / probs.sum())[sampled.tokens[:, 0]])
    assert sampled.log_probs.requires_grad


@pytest.mark.parametrize("baseline, samples, variant", [("greedy", 4, None), ("samples", 4, None), ("greedy", 4, "all")])
def test_the_reward_rises_on_a_tiny_task(baseline, samples, variant, one_torch_thread):
    torch.manual_seed(0)
    dec = Decoder(small_decoder_config(len(VOCAB), max_len=5, **LAB_VARIANTS.get(variant, {}))).train()
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 12, 16, generator=g)

    def greedy_reward():
        dec.eval()
        hyps = greedy_decode(ReferenceStep(dec), feats)
        dec.train()
        return cider_d([VOCAB.decode(row) for row in hyps.tokens[:, 0].tolist()], REFERENCES).mean()

    before = greedy_reward()
    optimizer = torch.optim.Adam(dec.parameters(), lr=1e-2)
    stats = [self_critical_step(dec, optimizer, feats, REFERENCES, VOCAB, baseline, samples, generator=g) for _ in range(60)]
    after = greedy_reward()
    assert after > before + 0.5, (before, after)
    assert np.mean([s.sample_reward for s in stats[-10:]]) > np.mean([s.sample_reward for s in stats[:10]]) + 0.3


def test_bad_settings_are_refused():
    dec = Decoder(small_decoder_config(len(VOCAB)))
    optimizer = torch.optim.SGD(dec.parameters(), lr=0.1)
    feats = torch.randn(4, 12, 16)
    for kwargs, message in (
        (dict(baseline="mean"), "baseline"),
        (dict(baseline="samples", samples=1), "samples"),
        (dict(samples=0), "samples"),
    ):
        with pytest.raises(ValueError, match=message):
            self_critical_step(dec, optimizer, feats, REFERENCES, VOCAB, **kwargs)
    with pytest.raises(ValueError, match="references for each"):
        self_critical_step(dec, optimizer, feats, REFERENCES[:2], VOCAB)
