"""The controls of the study: the oracle (true false negatives removed) and FNAC with shuffled
adjacency matrices, on hand-made batches whose answers can be worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fnac_lib.config import preset
from fnac_lib.losses import (
    OBJECTIVES,
    audio_adjacency,
    fnac_losses,
    mil_logits,
    oracle_infonce,
    permute_adjacency,
    require_known_labels,
    same_class_pairs,
    softmax_l1,
    symmetric_infonce,
    visual_adjacency,
)
from fnac_lib.model import AVModel
from fnac_lib.step import batch_losses

TAU, TNE = 0.03, (0.6, 1e-8)  # temperature; TNE's threshold and epsilon
CPU = torch.device("cpu")


def losses_of(model, batch, method: str, **train):
    """``step.batch_losses`` of the ci preset's run of ``method`` (fp32, no augmentation)."""
    config = preset("ci", **{"train.method": method, **{f"train.{k}": v for k, v in train.items()}})
    return batch_losses(model, batch, 0, config.train, False, None, CPU)


def test_same_class_pairs_mark_the_false_negatives():
    same = same_class_pairs(torch.tensor([3, 5, 3, 3]))
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(same, expected)


def test_the_oracle_drops_same_class_clips_from_the_denominators():
    # Two classes: items 0 and 1 share one. Row 0 of the oracle sees only its own clip and clip 2.
    logits = torch.tensor([[2.0, 1.5, 0.0], [1.0, 3.0, -1.0], [0.5, 0.0, 1.0]])
    same = same_class_pairs(torch.tensor([7, 7, 9]))
    by_hand = 0.0
    for matrix in (logits, logits.t()):
        for i in range(3):
            kept = [j for j in range(3) if j == i or not same[i, j]]
            by_hand += -(matrix[i, i] - torch.logsumexp(matrix[i, kept], 0)) / 3
    assert oracle_infonce(logits, same).item() == pytest.approx(float(by_hand), rel=1e-6)
    assert oracle_infonce(logits, same) < symmetric_infonce(logits)  # fewer competitors, lower loss


def test_with_one_item_per_class_the_oracle_is_ezvsl():
    logits = torch.randn(5, 5)
    same = same_class_pairs(torch.arange(5))
    assert not same.any()
    torch.testing.assert_close(oracle_infonce(logits, same), symmetric_infonce(logits))


def test_the_oracle_feels_no_push_from_a_false_negative():
    logits = torch.randn(4, 4, requires_grad=True)
    oracle_infonce(logits, same_class_pairs(torch.tensor([0, 0, 1, 2]))).backward()
    assert logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0  # the same-class pair is left alone
    assert logits.grad[0, 2] != 0 and logits.grad[2, 0] != 0  # true negatives still push


def test_unknown_labels_are_refused_clearly():
    with pytest.raises(ValueError, match=r"2 of 3 labels .* unknown \(-1\)"):
        require_known_labels(torch.tensor([4, -1, -1]))
    config = preset("ci", **{"train.method": "oracle", "data.image_size": 32})
    model = AVModel(config.model, config.audio)
    batch = {"image": torch.zeros(3, 3, 32, 32, dtype=torch.uint8), "audio": torch.zeros(3, model.frontend.num_samples),
             "label": torch.tensor([1, -1, 2])}
    with pytest.raises(ValueError, match="oracle needs every sample's class"):
        losses_of(model, batch, "oracle")


def test_the_oracle_step_reads_the_batch_labels():
    config = preset("ci", **{"data.image_size": 32})
    torch.manual_seed(0)
    model = AVModel(config.model, config.audio).eval()
    batch = {"image": torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8),
             "audio": torch.randn(4, model.frontend.num_samples), "label": torch.tensor([0, 0, 1, 2])}
    oracle, terms = losses_of(model, batch, "oracle")
    plain, _ = losses_of(model, batch, "ezvsl")
    with torch.no_grad():
        img_maps, aud_emb = model(batch["image"], batch["audio"])
        logits = mil_logits(img_maps, aud_emb, TAU)
    expected = oracle_infonce(logits, same_class_pairs(batch["label"]))
    torch.testing.assert_close(oracle, expected)
    assert oracle < plain and terms["base"] is oracle


def test_the_controls_are_rows_of_the_objectives_table():
    oracle, shuffled, fnac = OBJECTIVES["oracle"], OBJECTIVES["fnac_shuffled"], OBJECTIVES["fnac"]
    assert oracle.base == "oracle" and oracle.terms == () and not oracle.warmup
    assert shuffled.adjacency == "shuffled" and fnac.adjacency == "features"
    assert shuffled.terms == fnac.terms == ("fns_audio", "fns_visual", "tne") and shuffled.warmup


def test_permuted_adjacency_keeps_each_row_and_its_own_entry_on_the_diagonal():
    adjacency = torch.tensor([[9.0, 1.0, 2.0], [1.0, 8.0, 3.0], [2.0, 3.0, 7.0]])
    permutation = torch.tensor([2, 0, 1])
    shuffled = permute_adjacency(adjacency, permutation)
    assert torch.equal(shuffled.diagonal(), adjacency.diagonal()[permutation])  # self-similarity stays put
    assert torch.equal(shuffled[0], torch.tensor([7.0, 2.0, 3.0]))  # row 2 of the original, columns relabelled
    assert torch.equal(shuffled.sort(dim=1).values, adjacency[permutation].sort(dim=1).values)  # same values per row
    assert torch.equal(permute_adjacency(adjacency, torch.arange(3)), adjacency)


def test_shuffled_fnac_scores_the_logits_against_the_shuffled_detectors():
    torch.manual_seed(1)
    img_maps = F.normalize(torch.randn(5, 8, 3, 3), dim=1)
    # clips 0 and 1 sound alike (a false-negative pair): A_aud holds off-diagonal mass for shuffling to move
    aud_emb = F.normalize(torch.randn(5, 8) + 4 * torch.tensor([1.0, 1, 0, 0, 0]).view(5, 1), dim=1)
    permutation = torch.tensor([1, 2, 3, 4, 0])
    plain = fnac_losses(img_maps, aud_emb, TAU, *TNE)
    shuffled = fnac_losses(img_maps, aud_emb, TAU, *TNE, permutation=permutation)
    logits = mil_logits(img_maps, aud_emb, TAU)
    adj_audio = permute_adjacency(audio_adjacency(aud_emb, TAU), permutation)
    torch.testing.assert_close(shuffled["base"], plain["base"])  # the contrastive loss is untouched
    torch.testing.assert_close(shuffled["fns_audio"], softmax_l1(adj_audio, logits))
    torch.testing.assert_close(shuffled["fns_visual"],
                               softmax_l1(permute_adjacency(visual_adjacency(img_maps, TAU), permutation), logits))
    assert not math.isclose(shuffled["fns_audio"].item(), plain["fns_audio"].item())
    unshuffled = fnac_losses(img_maps, aud_emb, TAU, *TNE, permutation=torch.arange(5))
    for name in plain:
        torch.testing.assert_close(unshuffled[name], plain[name])


def test_the_shuffled_step_draws_a_new_permutation_from_the_seeded_generator():
    config = preset("ci", **{"data.image_size": 32})
    torch.manual_seed(0)
    model = AVModel(config.model, config.audio).eval()
    batch = {"image": torch.randint(0, 255, (6, 3, 32, 32), dtype=torch.uint8),
             "audio": torch.randn(6, model.frontend.num_samples), "label": torch.arange(6)}
    draws = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        draws.append(losses_of(model, batch, "fnac_shuffled", term_weight=1.0, warmup_epochs=0)[1]["fns_audio"].item())
    assert draws[0] == draws[1] != draws[2]
