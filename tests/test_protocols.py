"""Open-set (SLAVC) and AVSBench S4 protocols on hand-made cases and against direct loops."""

from __future__ import annotations

import math

import pytest
import torch

from fnac_lib.protocols import (
    av_value_range, localisation_to_mask_logits, open_set_confidence, open_set_pr, open_set_scores,
    s4_frame_iou, s4_fscore, s4_miou,

)
TAU = 0.03  # the published temperature: AV maps S = cos / tau lie in [-1/tau, 1/tau]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ---------------------------------------------------------------------------------------------
# Open set


def slavc_precision_recall(on_screen, ciou, conf, thr):
    """SLAVC's ``calc_precision_recall``, written out per pair."""
    tp = fp = fn = 0
    for on, c, k in zip(on_screen, ciou, conf):
        if k >= thr:
            if on and c >= 0.5:
                tp += 1
            else:
                fp += 1
        elif on:
            fn += 1
    return (1.0 if tp + fp == 0 else tp / (tp + fp)), (1.0 if tp + fn == 0 else tp / (tp + fn))


def test_open_set_pr_hand_case():
    conf = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    on = torch.tensor([True, True, False, True, False, True])
    ciou = torch.tensor([0.6, 0.3, 0.0, 0.7, 0.0, 0.9])
    result = open_set_pr(conf, ciou, on)
    # by hand, thresholds 0.9 .. 0.4: (TP, FP, FN) = (1,0,3) (1,1,2) (1,2,2) (2,2,1) (2,3,1) (3,3,0)
    expected_p = [1, 1 / 2, 1 / 3, 1 / 2, 2 / 5, 1 / 2]
    expected_r = [1 / 4, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1]
    torch.testing.assert_close(result["precision"], torch.tensor(expected_p, dtype=torch.float64))
    torch.testing.assert_close(result["recall"], torch.tensor(expected_r, dtype=torch.float64))
    # interpolated precision 1, .5, .5, .5, .5, .5 over recall steps 1/4, 1/12, 0, 1/3, 0, 1/3
    assert result["AP"] == pytest.approx(1 / 4 + 0.5 * (1 / 12 + 1 / 3 + 1 / 3))
    assert result["max_F1"] == pytest.approx(2 / 3)  # at the lowest threshold: P = 1/2, R = 1


def test_open_set_pr_matches_slavc_counting_with_ties():
    gen = torch.Generator().manual_seed(0)
    conf = torch.randint(0, 12, (60,), generator=gen).float() / 12  # many ties
    on = torch.rand(60, generator=gen) > 0.5
    ciou = torch.rand(60, generator=gen)
    result = open_set_pr(conf, ciou, on)
    thresholds = sorted(set(conf.tolist()), reverse=True)
    assert result["thresholds"].tolist() == pytest.approx(thresholds)
    for i, thr in enumerate(thresholds):
        p, r = slavc_precision_recall(on.tolist(), ciou.tolist(), conf.tolist(), thr)
        assert result["precision"][i].item() == pytest.approx(p) and result["recall"][i].item() == pytest.approx(r)


def test_open_set_confidence_is_top_quarter_mean_after_fixed_range():
    wanted = torch.arange(16, dtype=torch.float32).view(1, 4, 4) / 15  # normalised scores 0..1
    raw = (2 * wanted - 1) / TAU  # S = cos / tau with cos = 2 * score - 1
    conf = open_set_confidence(raw, av_value_range(TAU))
    assert conf.item() == pytest.approx(float((12 + 13 + 14 + 15) / 4 / 15), abs=1e-6)
    # a uniformly weak pair stays weak: no per-sample min-max stretches it back to 1
    assert open_set_confidence(torch.full((1, 4, 4), -0.5 / TAU), av_value_range(TAU)).item() == pytest.approx(0.25)
    assert open_set_confidence(torch.full((1, 4, 4), -0.5 / 0.07), av_value_range(0.07)).item() == pytest.approx(0.25)


@pytest.mark.parametrize("device", DEVICES)
def test_open_set_scores_end_to_end(device):
    gt = torch.zeros(4, 8, 8)
    gt[:2, :4, :4] = 1  # two sounding pairs with the object top-left; pairs 2, 3 are silent
    on = torch.tensor([True, True, False, False])
    ramp = 0.001 * torch.arange(64, dtype=torch.float32).view(8, 8)  # distinct values: the median splits 32/32
    maps = ((-0.2 + ramp) / TAU).repeat(4, 1, 1)
    maps[0, :4, :4] = 0.9 / TAU  # confident and in the right place
    maps[1, :4, :4] = 0.5 / TAU  # less confident, right place
    maps[2] = 0.0  # silent and flat: low confidence
    maps[3, 4:, 4:] = 0.7 / TAU  # silent but confident: a false positive between the two positives
    result = open_set_scores(maps.to(device), gt.to(device), on.to(device), av_value_range(TAU))
    assert result["ciou"][:2].tolist() == pytest.approx([0.5, 0.5])  # the top half: the 16 gt pixels and 16 others
    assert result["confidence"].argsort(descending=True).tolist() == [0, 3, 1, 2]
    # thresholds: {0}: P 1, R 1/2; {0,3}: P 1/2, R 1/2; {0,3,1}: P 2/3, R 1; all: P 1/2, R 1
    assert result["AP"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert result["max_F1"] == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------------
# AVSBench S4


def test_s4_miou_hand_cases():
    ones, zeros = torch.ones(2, 4, 4), torch.zeros(2, 4, 4)
    assert s4_miou(ones, ones) == pytest.approx(1)  # logit 1 -> sigmoid 0.73 > 0.5: object everywhere
    assert s4_miou(zeros, zeros) == pytest.approx(1)  # logit 0 -> sigmoid 0.5, not > 0.5; empty gt: true negatives
    assert s4_miou(zeros, ones) == pytest.approx(0)
    assert s4_miou(ones, zeros) == pytest.approx(0)  # empty gt, full prediction
    pred = torch.full((1, 4, 4), -3.0)
    pred[0, :, :2] = 3.0  # left half predicted
    gt = torch.zeros(1, 4, 4)
    gt[0, :2] = 1  # top half annotated
    assert s4_frame_iou(pred, gt).item() == pytest.approx(4 / 12)
    half_empty = torch.zeros(1, 4, 4)
    assert s4_frame_iou(pred, half_empty).item() == pytest.approx(8 / 16)  # half the pixels left as background
    assert s4_miou(torch.cat([pred, pred]), torch.cat([gt, half_empty])) == pytest.approx((1 / 3 + 1 / 2) / 2)


def avsbench_fscore_loop(probs, gt, beta2=0.3, num=255):
    """AVSBench's ``Eval_Fmeasure`` written out: per frame, per threshold, then the mean curve."""
    thresholds = torch.linspace(0, 1 - 1e-10, num)
    curves = []
    for p, g in zip(probs, gt):
        if g.mean() == 0:
            continue
        f = torch.zeros(num, dtype=torch.float64)
        for i, thr in enumerate(thresholds):
            pred = (p >= thr).double()
            tp = (pred * g).sum()
            prec, rec = tp / (pred.sum() + 1e-20), tp / (g.sum() + 1e-20)
            value = (1 + beta2) * prec * rec / (beta2 * prec + rec)
            f[i] = 0.0 if torch.isnan(value) else value
        curves.append(f)
    return torch.stack(curves)


@pytest.mark.parametrize("device", DEVICES)
def test_s4_fscore_matches_a_direct_loop(device):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 12, 12, generator=gen) * 3
    logits[3] = 40.0  # saturated: every probability is exactly 1
    gt = (torch.rand(10, 12, 12, generator=gen) > 0.6).double()
    gt[7] = 0  # a frame without an object is left out
    curves = avsbench_fscore_loop(torch.sigmoid(logits), gt)
    ours = s4_fscore(logits.to(device), gt.to(device))
    assert ours == pytest.approx(curves.mean(0).max().item(), abs=1e-12)
    # per clip of 5 frames (AVSBench's test script, one clip per batch), then the mean over clips
    clips = [avsbench_fscore_loop(torch.sigmoid(logits[i:i + 5]), gt[i:i + 5]) for i in (0, 5)]
    expected = sum(clip.mean(0).max().item() for clip in clips) / 2
    assert s4_fscore(logits.to(device), gt.to(device), frames_per_clip=5) == pytest.approx(expected, abs=1e-12)


def test_s4_fscore_perfect_prediction_and_empty_gt():
    gt = torch.zeros(2, 6, 6)
    gt[:, 1:4, 1:4] = 1
    logits = torch.where(gt > 0, 5.0, -5.0)
    assert s4_fscore(logits, gt) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-empty"):
        s4_fscore(logits, torch.zeros_like(gt))


def test_localisation_to_mask_logits_keeps_the_map_as_probability():
    maps = torch.rand(3, 1, 7, 7)
    logits = localisation_to_mask_logits(maps, 28)
    assert logits.shape == (3, 28, 28)
    up = torch.nn.functional.interpolate(maps, size=(28, 28), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(torch.sigmoid(logits), up.clamp(1e-6, 1 - 1e-6), atol=1e-5, rtol=0)
    shifted = localisation_to_mask_logits(maps, (28, 28), threshold=0.8)
    clear = (up - 0.8).abs() > 1e-4  # away from float ties at the threshold itself
    assert torch.equal((shifted > 0)[clear], (up > 0.8)[clear])
    assert math.isfinite(localisation_to_mask_logits(torch.tensor([[[0.0, 1.0]]]), (1, 2)).abs().max().item())
