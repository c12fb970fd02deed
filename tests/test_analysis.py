"""Hand-computed checks of the false-negative, InfoNCE and pair-detection measurements."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fnac_lib.workbook import adjacency, common, false_negatives
from fnac_lib.losses import mil_logits, symmetric_infonce

LABELS = np.array([0, 0, 1, 2, 2, 2, -1])  # class 0 twice, 1 once, 2 three times, one unknown


def test_same_class_negatives_by_hand():
    # Anchor of class 0: one partner; class 1: none; class 2: two; the unknown label pairs with nothing.
    assert common.same_class_negatives(LABELS).tolist() == [1, 1, 0, 2, 2, 2, 0]
    assert common.false_negative_rate(LABELS) == pytest.approx(8 / (7 * 6))
    assert not common.same_class_pairs(LABELS).diagonal().any()


def test_expected_count_matches_brute_force():
    probs = np.array([0.5, 0.3, 0.2])
    for batch in (2, 3, 5):
        # Average the per-anchor count over every possible batch, weighted by its probability.
        brute = sum(np.prod(probs[list(batch_labels)]) * common.same_class_negatives(batch_labels).mean()
                    for batch_labels in itertools.product(range(3), repeat=batch))
        assert false_negatives.expected_same_class_negatives(batch, probs) == pytest.approx(brute)
    assert false_negatives.expected_same_class_negatives([1, 11], [0.25] * 4).tolist() == [0.0, 2.5]


def test_measured_count_approaches_expected():
    probs = np.array([0.6, 0.3, 0.1])
    labels = np.random.default_rng(0).choice(3, size=50_000, p=probs)
    sizes = [4, 32]
    mean, std = false_negatives.measured_same_class_negatives(labels, sizes, num_batches=400)
    expected = false_negatives.expected_same_class_negatives(sizes, common.class_distribution(labels))
    assert mean == pytest.approx(expected, rel=0.03)
    assert (std > 0).all()


def test_sampled_batches_have_no_repeats():
    rows = common.sample_batches(50, 20, 30, seed=1)
    assert rows.shape == (30, 20)
    assert all(len(set(row)) == 20 for row in rows)


def _class_features(labels, num_classes, dim=8, size=3):
    """Every item of a class has the class's one-hot vector, at every image location too."""
    aud = torch.eye(dim)[:num_classes][torch.as_tensor(labels)]  # (B, D)
    maps = aud[:, :, None, None].expand(-1, -1, size, size).contiguous()  # (B, D, H, W)
    return maps, aud


def test_infonce_floor_matches_loss_of_indistinguishable_classes():
    labels = np.array([0, 0, 1, 2, 2, 2, 3, 1])
    maps, aud = _class_features(labels, 4)
    for tau in (0.5, 0.03):
        # Positives and false negatives score 1 / tau, true negatives (orthogonal) 0: a gap of 1 / tau.
        loss = symmetric_infonce(mil_logits(maps.double(), aud.double(), tau)).item()
        assert loss == pytest.approx(false_negatives.infonce_floor(labels, gap=1 / tau), rel=1e-9)
    # With an infinite gap the floor is 2 * mean log(1 + k): k = 1, 1, 1, 2, 2, 2, 0, 1 here.
    by_hand = 2 * (4 * math.log(2) + 3 * math.log(3) + 0) / 8
    assert false_negatives.infonce_floor(labels) == pytest.approx(by_hand)
    assert symmetric_infonce(mil_logits(maps, aud, 0.01)).item() == pytest.approx(by_hand, abs=1e-6)


def test_expected_floor_matches_sampled_batches():
    probs = np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(0)
    sampled = np.mean([false_negatives.infonce_floor(rng.choice(3, size=16, p=probs)) for _ in range(4000)])
    assert false_negatives.expected_infonce_floor([16], probs)[0] == pytest.approx(sampled, rel=0.01)
    # One class: every other item is a false negative, the floor is the chance loss 2 log B.
    assert false_negatives.expected_infonce_floor([8], [1.0])[0] == pytest.approx(false_negatives.chance_infonce(8))


def test_logit_gradient_rows_balance():
    logits = torch.randn(6, 6, generator=torch.Generator().manual_seed(0)) * 5
    grad = false_negatives.logit_gradient(logits)
    assert (grad.diagonal() < 0).all()
    assert (grad[~torch.eye(6, dtype=torch.bool)] > 0).all()
    assert grad.sum().item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_split_sums_to_total():
    gen = torch.Generator().manual_seed(0)
    maps = F.normalize(torch.randn(8, 16, 3, 3, generator=gen), dim=1)
    aud = F.normalize(torch.randn(8, 16, generator=gen), dim=1)
    labels = [0, 0, 1, 2, 2, 2, 3, 1]
    parts = false_negatives.embedding_gradient_split(maps, aud, labels, 0.03)
    for which in (0, 1):
        summed = sum(parts[name][which] for name in ("positive", "false_negative", "true_negative"))
        torch.testing.assert_close(summed, parts["total"][which], atol=1e-5, rtol=1e-5)
    # The total matches plain autograd through the loss.
    maps_, aud_ = maps.clone().requires_grad_(True), aud.clone().requires_grad_(True)
    symmetric_infonce(mil_logits(maps_, aud_, 0.03)).backward()
    torch.testing.assert_close(parts["total"][1], aud_.grad, atol=1e-5, rtol=1e-5)
    summary = false_negatives.gradient_split_summary(maps, aud, labels, 0.03)
    assert summary["fn_rate"] == pytest.approx(common.false_negative_rate(labels))
    assert 0 < summary["fn_push_share"] < 1


def test_roc_on_perfect_and_random_detectors():
    rng = np.random.default_rng(0)
    targets = rng.random(4000) < 0.2
    perfect = targets + rng.random(4000) * 0.5  # every positive above every negative
    assert adjacency.auroc(perfect, targets) == 1.0
    assert adjacency.average_precision(perfect, targets) == pytest.approx(1.0)
    random = rng.random(4000)
    assert adjacency.auroc(random, targets) == pytest.approx(0.5, abs=0.03)
    assert adjacency.average_precision(random, targets) == pytest.approx(targets.mean(), abs=0.03)
    # A constant detector is one tied point: the diagonal, area exactly 1/2.
    fpr, tpr, _ = adjacency.roc_curve(np.zeros(10), np.arange(10) < 3)
    assert fpr.tolist() == [0, 1] and tpr.tolist() == [0, 1]
    assert adjacency.auroc(np.zeros(10), np.arange(10) < 3) == 0.5


def test_roc_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    targets = np.array([True, False, True, False])
    fpr, tpr, thresholds = adjacency.roc_curve(scores, targets)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert adjacency.auroc(scores, targets) == 0.75  # 3 of the 4 positive-negative pairs ranked right
    assert adjacency.average_precision(scores, targets) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_pair_detection_and_ordering():
    labels = np.array([1, 0, 1, 0, 2])
    same = common.same_class_pairs(labels).astype(float)
    scores = adjacency.pair_detection(same, labels)
    assert scores["auroc"] == 1.0 and scores["r_precision"] == 1.0
    assert scores["positive_rate"] == pytest.approx(4 / 20)
    order, boundaries = adjacency.order_by_class(labels)
    assert labels[order].tolist() == [0, 0, 1, 1, 2] and boundaries.tolist() == [2, 4]
    softmax = adjacency.row_softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(softmax, [[1, 0], [0.5, 0.5]])


def test_adjacency_matrices_shapes():
    gen = torch.Generator().manual_seed(0)
    maps = F.normalize(torch.randn(5, 8, 4, 4, generator=gen), dim=1)
    aud = F.normalize(torch.randn(5, 8, generator=gen), dim=1)
    matrices = adjacency.adjacency_matrices(maps, aud, 0.03, 0.6, 1e-8)
    assert set(matrices) == {"audio", "visual", "foreground", "image-audio logits"}
    assert all(m.shape == (5, 5) for m in matrices.values())


def test_class_aware_features():
    labels = np.array([0, 0, 1, 2, 2, -1, -1])
    maps, aud = false_negatives.class_aware_features(labels, dim=32, instance=0.0, modality=0.0, size=2)
    assert maps.shape == (7, 32, 2, 2) and aud.shape == (7, 32)
    torch.testing.assert_close(maps[:, :, 0, 0], aud)  # no noise: a picture is its sound
    torch.testing.assert_close(aud[0], aud[1])  # same class, nothing finer: identical
    assert not torch.allclose(aud[5], aud[6])  # unknown labels never share a prototype
    loss = symmetric_infonce(mil_logits(maps, aud, 0.03)).item()
    assert loss >= false_negatives.infonce_floor(labels) - 1e-6


def test_class_aware_push_lands_on_false_negatives():
    labels = np.random.default_rng(0).integers(0, 5, size=400)
    split = false_negatives.class_aware_gradient_splits({"five classes": labels}, batch_size=32, num_batches=3, seed=0,
                                                        tau=0.03)["five classes"]
    assert split["fn_rate"] == pytest.approx(0.2, abs=0.05)
    assert split["fn_push_share"] > 0.95  # the model sees same-class items as alike: they take the push
