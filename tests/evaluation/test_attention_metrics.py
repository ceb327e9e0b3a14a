"""Attention correctness on hand-computed maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from captioner.evaluation.attention_metrics import attention_correctness, attention_correctness_summary, upsample_attention


def one_hot(shape, cell):
    att = np.zeros(shape)
    att[cell] = 1.0
    return att


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_uniform_map_scores_exactly_the_baseline(mode):
    for box, area in [((0, 0, 2, 2), 4), ((0.5, 1.25, 3, 4), 2.5 * 2.75), ((-5, 1, 2, 9), 2 * 3)]:
        result = attention_correctness(np.full((3, 5), 1 / 15), box, (4, 4), upsample=mode)
        assert result["baseline"] == pytest.approx(area / 16, abs=1e-12)
        assert result["mass_in_box"] == pytest.approx(area / 16, abs=1e-12)


def test_nearest_one_cell_inside_and_outside_the_box():
    # 2x2 grid on an 8x6 image: cell (0, 0) covers x 0..4, y 0..3
    att = one_hot((2, 2), (0, 0))
    inside = attention_correctness(att, (0, 0, 4, 3), (8, 6), upsample="nearest")
    assert inside == {"mass_in_box": 1.0, "baseline": 0.25, "peak_in_box": True, "peak_xy": (0, 0)}
    outside = attention_correctness(att, (4, 3, 8, 6), (8, 6), upsample="nearest")
    assert outside["mass_in_box"] == 0.0 and outside["baseline"] == 0.25 and not outside["peak_in_box"]
    # the neighbouring cell (x 4..8) peaks at pixel (4, 0), just right of the half-open box
    right = attention_correctness(one_hot((2, 2), (0, 1)), (0, 0, 4, 3), (8, 6), upsample="nearest")
    assert right["mass_in_box"] == 0.0 and right["peak_xy"] == (4, 0) and not right["peak_in_box"]
    # a box over half of the cell: half the mass
    half = attention_correctness(att, (2, 0, 6, 3), (8, 6), upsample="nearest")
    assert half["mass_in_box"] == pytest.approx(0.5)


def test_map_is_renormalised_and_split_mass_is_counted():
    att = np.array([[3.0, 0.0], [0.0, 1.0]])  # sums to 4, not 1: renormalised to 0.75 / 0.25
    r = attention_correctness(att, (4, 3, 8, 6), (8, 6), upsample="nearest")
    assert r["mass_in_box"] == pytest.approx(0.25) and not r["peak_in_box"]


def test_bilinear_one_cell_by_hand():
    # 3x3 grid -> 30x30 pixels, all mass in the centre cell. Along one axis, pixel i samples grid
    # position s = (i + 0.5) / 10 - 0.5 and gets weight 1 - |s - 1| from the centre cell:
    # pixels 5..9 -> 0.05..0.45 (sum 1.25), 10..19 -> 0.55..0.95..0.55 (sum 7.5), 20..24 -> 1.25,
    # the rest 0; total 10. Inside the cell's own pixels 10..19: 7.5 / 10 = 0.75 per axis.
    r = attention_correctness(one_hot((3, 3), (1, 1)), (10, 10, 20, 20), (30, 30))
    assert r["mass_in_box"] == pytest.approx(0.75**2)
    assert r["baseline"] == pytest.approx(1 / 9)
    assert r["peak_in_box"] and r["peak_xy"] == (14, 14)  # the 2x2 maximum around the centre, first one
    assert attention_correctness(one_hot((3, 3), (1, 1)), (5, 5, 25, 25), (30, 30))["mass_in_box"] == pytest.approx(1.0)


@pytest.mark.parametrize("mode, torch_mode", [("bilinear", "bilinear"), ("nearest", "nearest-exact")])
def test_upsampling_matches_torch_interpolate(mode, torch_mode):
    rng = np.random.default_rng(0)
    att = rng.random((5, 7))
    att /= att.sum()
    ours = upsample_attention(att, (37, 23), mode)  # image size is (W, H)
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    ref = F.interpolate(torch.from_numpy(att)[None, None], size=(23, 37), mode=torch_mode, **kwargs)[0, 0].numpy()
    assert ours.shape == (23, 37)
    np.testing.assert_allclose(ours, ref / ref.sum(), rtol=1e-10, atol=1e-12)


def test_several_boxes_count_their_union_once():
    att = np.array([[0.5, 0.0], [0.0, 0.5]])
    both = attention_correctness(att, [(0, 0, 2, 2), (2, 2, 4, 4)], (4, 4), upsample="nearest")
    assert both["mass_in_box"] == pytest.approx(1.0) and both["baseline"] == pytest.approx(0.5)
    overlapping = attention_correctness(att, [(0, 0, 2, 2), (0, 0, 4, 2)], (4, 4), upsample="nearest")
    assert overlapping["baseline"] == pytest.approx(0.5) and overlapping["mass_in_box"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "att, box, size, message",
    [
        (np.zeros((2, 2)), (0, 0, 1, 1), (4, 4), "positive sum"),
        (np.array([[1.0, -0.5]]), (0, 0, 1, 1), (4, 4), "non-negative"),
        (np.array([[np.nan, 1.0]]), (0, 0, 1, 1), (4, 4), "finite"),
        (np.ones(4), (0, 0, 1, 1), (4, 4), "2-D"),
        (np.ones((2, 2)), (5, 5, 9, 9), (4, 4), "does not overlap"),
        (np.ones((2, 2)), (0, 0, 1), (4, 4), "box should be"),
        (np.ones((2, 2)), (0, 0, 1, 1), (0, 4), "image size"),
    ],
)
def test_attention_correctness_rejects_bad_input(att, box, size, message):
    with pytest.raises(ValueError, match=message):
        attention_correctness(att, box, size)


def test_summary_means_and_peak_rate():
    items = [
        (one_hot((2, 2), (0, 0)), (0, 0, 4, 3), (8, 6)),  # mass 1, baseline 0.25, peak in
        (one_hot((2, 2), (0, 0)), (4, 3, 8, 6), (8, 6)),  # mass 0, baseline 0.25, peak out
        (np.full((2, 2), 0.25), (0, 0, 8, 3), (8, 6)),  # mass 0.5, baseline 0.5, peak (0, 0) in
    ]
    summary = attention_correctness_summary(items, upsample="nearest")
    assert summary == pytest.approx({"count": 3, "mass_in_box": 0.5, "baseline": 1 / 3, "peak_in_box_rate": 2 / 3})
    empty = attention_correctness_summary([])
    assert empty["count"] == 0 and np.isnan(empty["mass_in_box"])


# ---------------------------------------------------------------------------------------------
# masks (scenes of photographed objects): the same figures inside the object's mask


def _rle(mask):
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def test_l_shaped_mask_and_its_box_give_different_figures():
    # An L in an 8x8 image: its box is the top-left 4x4 quarter, the L only 7 of those 16 pixels.
    mask = np.zeros((8, 8), dtype=bool)
    mask[0:4, 0] = True
    mask[3, 0:4] = True
    att = np.zeros((8, 8))
    att[0, 3] = 1.0  # inside the box, outside the L
    r = attention_correctness(att, (0, 0, 4, 4), (8, 8), upsample="nearest", mask=_rle(mask))
    assert r["mass_in_box"] == pytest.approx(1.0) and r["peak_in_box"]
    assert r["mass_in_mask"] == pytest.approx(0.0) and not r["peak_in_mask"]
    assert r["baseline"] == pytest.approx(16 / 64) and r["mask_baseline"] == pytest.approx(7 / 64)
    att = np.zeros((8, 8))
    att[3, 2] = 1.0  # on the L's foot
    r = attention_correctness(att, (0, 0, 4, 4), (8, 8), upsample="nearest", mask=mask)
    assert r["mass_in_mask"] == pytest.approx(1.0) and r["peak_in_mask"]


def test_uniform_map_scores_the_mask_baseline_and_masks_of_several_objects_unite():
    a, b = np.zeros((6, 10), dtype=bool), np.zeros((6, 10), dtype=bool)
    a[1:3, 1:3], b[4:6, 6:9] = True, True
    r = attention_correctness(np.ones((3, 5)), [(1, 1, 3, 3), (6, 4, 9, 6)], (10, 6), mask=[_rle(a), _rle(b)])
    assert r["mass_in_mask"] == pytest.approx(10 / 60) and r["mask_baseline"] == pytest.approx(10 / 60)


def test_summary_reports_masks_only_over_items_that_have_them():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = True
    items = [
        (one_hot((2, 2), (0, 0)), (0, 0, 2, 2), (4, 4), mask),
        (one_hot((2, 2), (0, 0)), (0, 0, 2, 2), (4, 4)),  # a shapes scene: no mask
    ]
    summary = attention_correctness_summary(items, upsample="nearest")
    assert summary["count"] == 2 and summary["mask_count"] == 1
    assert summary["mass_in_mask"] == pytest.approx(0.25) and summary["mask_baseline"] == pytest.approx(1 / 16)
    assert summary["peak_in_mask_rate"] == 1.0
    assert "mass_in_mask" not in attention_correctness_summary(items[1:], upsample="nearest")


def test_a_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match="mask is"):
        attention_correctness(np.ones((2, 2)), (0, 0, 2, 2), (4, 4), mask=np.ones((3, 4), dtype=bool))
