"""EZ-VSL / FNAC losses: hand-computed values, zeros where they must be, gradients, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

from fnac_lib import losses
from fnac_lib.config import preset
from fnac_lib.model import AVModel

TAU = 0.03  # the published temperature
TNE = {"fg_threshold": 0.6, "fg_eps": 1e-5}  # the published foreground threshold and epsilon


def unit(x):
    return F.normalize(x, dim=1)


def reference_losses(img_maps, aud_emb, tau, fg_threshold):
    """A per-pair, per-sample loop written straight from the method description."""
    batch, _, height, width = img_maps.shape
    logits = torch.zeros(batch, batch)
    for i in range(batch):
        for j in range(batch):
            logits[i, j] = max(
                float(img_maps[i, :, h, w] @ aud_emb[j]) for h in range(height) for w in range(width)
            ) / tau
    targets = torch.arange(batch)
    base = F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)
    a_aud = torch.stack([torch.stack([aud_emb[i] @ aud_emb[j] for j in range(batch)]) for i in range(batch)]) / tau
    means = [img_maps[i].mean(dim=(1, 2)) for i in range(batch)]
    a_img = torch.stack([torch.stack([means[i] @ means[j] for j in range(batch)]) for i in range(batch)]) / tau
    feats = []
    for i in range(batch):
        own = torch.einsum("dhw,d->hw", img_maps[i], aud_emb[i]) / tau
        own = (own - own.min()) / (own.max() - own.min() + 1e-8)
        feats.append((img_maps[i] * (own > fg_threshold)).sum(dim=(1, 2)) / (height * width))
    a_fg = torch.stack([torch.stack([feats[i] @ feats[j] for j in range(batch)]) for i in range(batch)]) / tau

    def l1(a, b):
        return (a.softmax(1) - b.softmax(1)).abs().mean()

    return {"base": base, "fns_audio": l1(a_aud, logits), "fns_visual": l1(a_img, logits), "tne": l1(a_aud, a_fg)}


def test_base_loss_on_a_hand_computed_case():
    # Two images, two clips, one location each, orthogonal pairs and tau = 1: logits = identity.
    img = torch.eye(2).view(2, 2, 1, 1)
    aud = torch.eye(2)
    terms = losses.fnac_losses(img, aud, tau=1.0, **TNE)
    expected = 2 * math.log(1 + math.exp(-1))  # each direction: -log(e / (e + 1))
    assert terms["base"].item() == pytest.approx(expected, rel=1e-6)


def test_mil_logits_take_the_best_location():
    img = torch.zeros(1, 2, 1, 2)
    img[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    img[0, :, 0, 1] = torch.tensor([0.0, 1.0])
    aud = torch.tensor([[0.0, 1.0]])
    assert losses.mil_logits(img, aud, tau=0.5).item() == pytest.approx(2.0)


def test_batched_losses_match_a_plain_loop():
    gen = torch.Generator().manual_seed(0)
    img = unit(torch.randn(5, 8, 3, 4, generator=gen))
    aud = unit(torch.randn(5, 8, generator=gen))
    fast = losses.fnac_losses(img, aud, tau=0.1, fg_threshold=0.6, fg_eps=1e-8)
    slow = reference_losses(img, aud, 0.1, 0.6)
    for key in fast:
        assert fast[key].item() == pytest.approx(slow[key].item(), rel=1e-5, abs=1e-7), key


def test_fns_terms_vanish_when_adjacency_equals_the_logits():
    # Every location of image i holds its clip's vector: L = a a^T / tau = A_aud = A_img.
    aud = unit(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)))
    img = aud.view(6, 4, 1, 1).expand(6, 4, 3, 3).contiguous()
    terms = losses.fnac_losses(img, aud, TAU, **TNE)
    assert terms["fns_audio"].item() == pytest.approx(0.0, abs=1e-7)
    assert terms["fns_visual"].item() == pytest.approx(0.0, abs=1e-7)


def test_tne_vanishes_when_both_adjacencies_are_uniform_and_not_otherwise():
    aud = unit(torch.ones(4, 3))  # identical clips: every row of A_aud is constant
    img = unit(torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(2))).expand(4, 3, 2, 2)
    assert losses.fnac_losses(img, aud, TAU, **TNE)["tne"].item() == pytest.approx(0.0, abs=1e-7)
    varied = unit(torch.randn(4, 3, generator=torch.Generator().manual_seed(3)))
    assert losses.fnac_losses(img, varied, TAU, **TNE)["tne"].item() > 1e-3


def test_foreground_features_divide_by_all_locations():
    img = torch.zeros(1, 2, 2, 2)
    img[0, 0] = 1.0  # every location is (1, 0)
    img[0, :, 0, 0] = torch.tensor([0.0, 1.0])  # but the top-left is (0, 1)
    aud = torch.tensor([[1.0, 0.0]])
    fg = losses.foreground_features(img, aud, TAU, **TNE)
    # Three locations pass the mask; their sum (3, 0) is divided by H * W = 4, not by 3.
    assert torch.allclose(fg, torch.tensor([[0.75, 0.0]]))


def test_total_loss_uses_the_base_loss_during_warmup():
    terms = {k: torch.tensor(v) for k, v in {"base": 1.0, "fns_audio": 0.1, "fns_visual": 0.2, "tne": 0.3}.items()}
    fnac, ezvsl = losses.OBJECTIVES["fnac"], losses.OBJECTIVES["ezvsl"]
    assert losses.total_loss(terms, fnac, 100.0, warmed_up=False).item() == pytest.approx(1.0)
    assert losses.total_loss(terms, fnac, 100.0, warmed_up=True).item() == pytest.approx(1.0 + 100 * 0.6)
    assert losses.total_loss(terms, ezvsl, 100.0, warmed_up=True).item() == pytest.approx(1.0)
    tne_only = losses.OBJECTIVES["tne"]
    assert losses.total_loss(terms, tne_only, 10.0, warmed_up=True).item() == pytest.approx(1.0 + 10 * 0.3)


def test_the_objectives_table_holds_every_method_and_control():
    table = losses.OBJECTIVES
    assert losses.METHODS == ("ezvsl", "fnac", "fns_audio", "fns_visual", "tne", "oracle", "fnac_shuffled")
    assert {name: row.base for name, row in table.items() if row.base != "infonce"} == {"oracle": "oracle"}
    assert [name for name, row in table.items() if row.adjacency == "shuffled"] == ["fnac_shuffled"]
    assert table["fnac"].terms == table["fnac_shuffled"].terms == losses.FNAC_TERMS
    assert all(row.warmup == bool(row.terms) for row in table.values())  # only terms wait for the warm-up


def test_gradients_reach_both_encoders():
    config = preset("ci")
    torch.manual_seed(0)
    model = AVModel(config.model, config.audio)
    images = torch.randn(4, 3, 32, 32)
    specs = model.frontend(torch.randn(4, model.frontend.num_samples))
    img_maps, aud_emb = model.encode(images, specs)
    terms = losses.fnac_losses(img_maps, aud_emb, TAU, **TNE)
    losses.total_loss(terms, losses.OBJECTIVES["fnac"], 100.0, warmed_up=True).backward()
    assert model.visual.trunk[0].weight.grad.abs().sum() > 0
    assert model.audio.trunk[0].weight.grad.abs().sum() > 0
    for name in ("fns_audio", "fns_visual", "tne"):
        model.zero_grad()
        img_maps, aud_emb = model.encode(images, specs)
        losses.fnac_losses(img_maps, aud_emb, TAU, **TNE)[name].backward()
        assert model.visual.projection.weight.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "img_shape, aud_shape, message",
    [
        ((4, 8, 3), (4, 8), "img_maps must be"),
        ((4, 8, 3, 3), (4, 8, 1), "aud_emb must be"),
        ((4, 8, 3, 3), (3, 8), "batch sizes differ"),
        ((4, 8, 3, 3), (4, 6), "feature sizes differ"),
    ],
)
def test_bad_shapes_are_named(img_shape, aud_shape, message):
    with pytest.raises(ValueError, match=message):
        losses.fnac_losses(torch.randn(img_shape), torch.randn(aud_shape), TAU, **TNE)


def test_adjacency_helpers_are_symmetric_and_scaled_by_tau():
    aud = unit(torch.randn(5, 4))
    img = unit(torch.randn(5, 4, 2, 2))
    for matrix in (losses.audio_adjacency(aud, TAU), losses.visual_adjacency(img, TAU),
                   losses.foreground_adjacency(img, aud, TAU, **TNE)):
        assert matrix.shape == (5, 5)
        assert torch.allclose(matrix, matrix.t(), atol=1e-5)
    assert losses.audio_adjacency(aud, tau=0.5).diagonal() == pytest.approx(torch.full((5,), 2.0), abs=1e-5)
