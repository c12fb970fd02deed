"""cIoU, AUC and pointing game on hand-made maps and masks."""

import numpy as np
import pytest
import torch

from fnac_lib import metrics


def test_ciou_thresholds_at_the_median_and_scores_a_box():
    pred = np.zeros((4, 4))
    pred[:, :2] = 1.0  # the left half is the top half of the pixels
    gt = np.zeros((4, 4))
    gt[:, :1] = 1.0  # one column of truth inside the prediction
    # intersection 4, gt 4, predicted-but-not-gt 4 -> 4 / (4 + 4)
    assert metrics.ciou(pred, gt) == pytest.approx(0.5)


def test_ciou_predicts_exactly_the_top_half_of_distinct_values():
    pred = np.arange(16, dtype=float).reshape(4, 4)
    gt = (pred >= 8).astype(float)
    assert metrics.ciou(pred, gt) == pytest.approx(1.0)
    assert metrics.ciou(-pred, gt) == pytest.approx(0.0)


def test_ciou_with_flickr_consensus_gt():
    # One annotator's box counts 0.5, two annotators' overlap counts 1 (gt = sum / 2, clipped).
    box_a = np.zeros((4, 4))
    box_a[:2, :2] = 1
    box_b = np.zeros((4, 4))
    box_b[:2, :3] = 1
    gt = np.clip((box_a + box_b) / 2, 0, 1)
    pred = np.zeros((4, 4))
    pred[:2, :] = 1.0  # top two rows predicted
    # intersection = 4 * 1 + 2 * 0.5 = 5; sum(gt) = 5; predicted on gt == 0: 2 pixels
    assert metrics.ciou(pred, gt) == pytest.approx(5 / 7)


def test_batch_ciou_matches_the_per_sample_definition():
    gen = torch.Generator().manual_seed(0)
    maps = torch.rand(16, 12, 12, generator=gen)
    gts = (torch.rand(16, 12, 12, generator=gen) > 0.6).float() * 0.5 + (torch.rand(16, 12, 12, generator=gen) > 0.8).float() * 0.5
    batched = metrics.batch_ciou(maps, gts)
    singles = [metrics.ciou(m, g) for m, g in zip(maps, gts)]
    assert batched.numpy() == pytest.approx(np.array(singles), abs=1e-6)


def test_summarize_on_known_values():
    values = [0.0, 0.25, 0.5, 0.75, 1.0]
    summary = metrics.summarize(values)
    assert summary["cIoU"] == pytest.approx(0.6)
    assert summary["mean_cIoU"] == pytest.approx(0.5)
    thresholds = np.linspace(0, 1, 21)
    curve = np.array([np.mean(np.array(values) >= t) for t in thresholds])
    hand_auc = sum((curve[i] + curve[i + 1]) / 2 * 0.05 for i in range(20))
    assert summary["AUC"] == pytest.approx(hand_auc)
    assert summary["n"] == 5


def test_summarize_refuses_empty_input():
    with pytest.raises(ValueError, match="at least one"):
        metrics.summarize([])


def test_ciou_refuses_mismatched_maps():
    with pytest.raises(ValueError, match="one shape"):
        metrics.ciou(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="one shape"):
        metrics.batch_ciou(torch.zeros(2, 4, 4), torch.zeros(3, 4, 4))


def test_pointing_game_hits_where_the_maximum_lies_on_truth():
    maps = torch.zeros(2, 3, 3)
    maps[0, 1, 1] = 1.0
    maps[1, 0, 0] = 1.0
    gts = torch.zeros(2, 3, 3)
    gts[:, 1, 1] = 1.0
    assert metrics.pointing_game(maps, gts).tolist() == [1.0, 0.0]
