"""CaptionResult's JSON form and its grid self-attention lookup, for the attention lab's extras."""

import json

import numpy as np
import pytest

from captioner.results.result import CaptionResult


def _result(**extras) -> CaptionResult:
    attention = np.full((2, 2, 3), 1 / 6, np.float32)
    return CaptionResult(text="a circle", words=["a", "circle"], attention=attention, score=-0.5, betas=np.ones(2, np.float32), **extras)


def test_a_plain_model_writes_none_of_the_lab_fields():
    data = _result().to_json(include_attention=True)
    assert not {"centres", "sentinel_shares", "grid_attention"} & set(data)
    assert "grid" not in _result().to_json()  # as before: the grid comes with the maps


def test_centres_and_sentinel_shares_are_written_a_word_each():
    centres = np.array([[0.5, 1.25], [1.123456, 2.9]], np.float32)
    result = _result(centres=centres, sentinel_shares=np.array([0.75, 0.1], np.float32))
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert data["grid"] == [2, 3] and data["centres"] == [[0.5, 1.25], [1.1235, 2.9]]
    assert data["sentinel_shares"] == [0.75, 0.1]
    assert "attention" not in data and "grid_attention" not in data  # maps only when asked for


def test_grid_self_attention_maps_are_written_with_the_maps_exactly():
    rng = np.random.default_rng(0)
    maps = rng.random((2, 6, 6)).astype(np.float32)
    maps /= maps.sum(-1, keepdims=True)
    result = _result(grid_attention=maps)
    assert "grid_attention" not in result.to_json()
    data = json.loads(json.dumps(result.to_json(include_attention=True), allow_nan=False))
    assert np.array_equal(np.asarray(data["grid_attention"], np.float32), maps)


def test_a_cell_s_self_attention_per_head():
    maps = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    result = _result(grid_attention=maps)
    looked = result.cell_attention(1, 0)  # the fourth cell of the 2 x 3 grid
    assert looked.shape == (2, 2, 3) and np.array_equal(looked[1], maps[1, 3].reshape(2, 3))
    with pytest.raises(ValueError, match=r"cell \(2, 0\) is outside the 2x3 grid"):
        result.cell_attention(2, 0)
    with pytest.raises(ValueError, match="no self-attention over the grid"):
        _result().cell_attention(0, 0)
