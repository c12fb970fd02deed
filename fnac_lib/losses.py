"""EZ-VSL and FNAC losses as pure functions of features (README, "The losses").

Notation: ``img_maps`` V is (B, D, H, W) with a unit vector at every location, ``aud_emb`` a is
(B, D) unit vectors, tau the temperature. Nothing here owns parameters, so the analysis
notebooks apply the same functions to any features, trained or not.

Upstream computes these inside the model's ``forward``; here they are separate so the
adjacency matrices can be inspected and the terms ablated one at a time. ``OBJECTIVES`` is the
table of training methods and controls: which base loss, which terms, where the adjacency comes
from; ``total_loss`` adds a row's terms up. The temperature and the TNE threshold are passed by the
caller (a run's ``train.tau``, ``train.fg_threshold``), never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F


def _check_features(img_maps: torch.Tensor, aud_emb: torch.Tensor) -> None:
    if img_maps.ndim != 4:
        raise ValueError(f"img_maps must be (B, D, H, W), got shape {tuple(img_maps.shape)}")
    if aud_emb.ndim != 2:
        raise ValueError(f"aud_emb must be (B, D), got shape {tuple(aud_emb.shape)}")
    if img_maps.shape[0] != aud_emb.shape[0]:
        raise ValueError(
            f"batch sizes differ: img_maps has {img_maps.shape[0]} images, aud_emb {aud_emb.shape[0]} clips"
        )
    if img_maps.shape[1] != aud_emb.shape[1]:
        raise ValueError(
            f"feature sizes differ: img_maps has D={img_maps.shape[1]}, aud_emb D={aud_emb.shape[1]}"
        )


def similarity_volume(img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float) -> torch.Tensor:
    """S[i, j, h, w] = <V[i, :, h, w], a[j]> / tau: every image location against every clip."""
    return torch.einsum("idhw,jd->ijhw", img_maps, aud_emb) / tau  # (B_img, B_aud, H, W)


def own_pair_maps(img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float) -> torch.Tensor:
    """S[i, i, :, :]: each image against its own clip, without building the full volume."""
    return torch.einsum("idhw,id->ihw", img_maps, aud_emb) / tau  # (B, H, W)


def mil_logits(img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float) -> torch.Tensor:
    """L[i, j] = max over locations of S[i, j]: the multiple-instance image-audio logits."""
    return similarity_volume(img_maps, aud_emb, tau).flatten(2).amax(dim=2)  # (B_img, B_aud)


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """CE(L, diag) + CE(L^T, diag): the EZ-VSL base loss, the two directions summed."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)


def require_known_labels(labels: torch.Tensor) -> None:
    """Raise unless every label of ``labels`` (B,) is a class id: -1 marks an unknown class (a
    real benchmark without class annotations), which cannot say whether a negative is false."""
    if labels.ndim != 1:
        raise ValueError(f"labels must be (B,), got shape {tuple(labels.shape)}")
    unknown = int((labels < 0).sum())
    if unknown:
        raise ValueError(f"the oracle needs every sample's class, but {unknown} of {len(labels)} labels in the "
                         "batch are unknown (-1): train it on data whose labels are known (the default data)")


def same_class_pairs(labels: torch.Tensor) -> torch.Tensor:
    """(B, B) True where two different items of a batch share a class (``labels`` (B,), all known):
    the batch's false negatives."""
    same = labels.view(-1, 1) == labels.view(1, -1)  # (B, B)
    return same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)


def oracle_infonce(logits: torch.Tensor, same_class: torch.Tensor) -> torch.Tensor:
    """The symmetric InfoNCE with every true false negative removed from the denominators.

    Entries of ``logits`` (B, B) where ``same_class`` (B, B, diagonal False) holds are set to
    -inf before both cross-entropies: an image no longer competes with the clips of its own class,
    nor a clip with the pictures of its class. They are removed rather than counted as positives
    on purpose: removal uses the labels only to say which negatives are false, the one thing a
    false-negative handler such as FNAC tries to guess, so the gap to EZ-VSL bounds what any
    such handling can gain. Counting them as positives would add class supervision (pulling
    different pictures of a class together, as supervised contrastive learning does), whose gain
    would have nothing to do with false negatives. With one item per class it is the EZ-VSL loss.
    """
    if same_class.shape != logits.shape or bool(same_class.diagonal().any()):
        raise ValueError("same_class must be (B, B) like the logits, with a False diagonal")
    return symmetric_infonce(logits.masked_fill(same_class, float("-inf")))


def permute_adjacency(adjacency: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """A[perm][:, perm]: the adjacency of a relabelled batch, for the shuffled-adjacency control.

    Row i becomes row perm[i], and the columns follow, so every row keeps its self-similarity on
    the diagonal (permuting rows alone would move each row's peak onto a wrong clip, a wrong
    positive) while its off-diagonal mass, where FNAC finds false negatives, lands on random pairs.
    Each row keeps its values, hence its softmax's shape: the terms regularise as much, informed
    by nothing.
    """
    return adjacency[permutation][:, permutation]  # (B, B)


def audio_adjacency(aud_emb: torch.Tensor, tau: float) -> torch.Tensor:
    """A_aud = a a^T / tau: audio-audio similarity, FNAC's first false-negative detector."""
    return aud_emb @ aud_emb.t() / tau  # (B, B)


def visual_adjacency(img_maps: torch.Tensor, tau: float) -> torch.Tensor:
    """A_img = vbar vbar^T / tau with vbar the spatial mean of each map (not re-normalised, as upstream)."""
    v_mean = img_maps.mean(dim=(2, 3))  # (B, D)
    return v_mean @ v_mean.t() / tau  # (B, B)


def normalize_maps(maps: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Min-max normalise each map of a (B, ...) batch to [0, 1]."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1).view(-1, *([1] * (maps.ndim - 1)))
    high = flat.amax(dim=1).view(-1, *([1] * (maps.ndim - 1)))
    return (maps - low) / (high - low + eps)


def foreground_features(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float, fg_threshold: float, fg_eps: float
) -> torch.Tensor:
    """f_i: the visual feature of the sounding region, used by TNE.

    The own-pair map is min-max normalised per sample ((S - min) / (max - min + fg_eps): upstream's
    ``calculate_loss`` adds 1e-5, the workbook's own presets 1e-8) and thresholded (hard mask >
    fg_threshold); the masked features are summed and divided by all H*W locations, as upstream
    does, not by the mask area.
    """
    maps = normalize_maps(own_pair_maps(img_maps, aud_emb, tau), fg_eps)  # (B, H, W)
    mask = (maps > fg_threshold).to(img_maps.dtype).unsqueeze(1)  # (B, 1, H, W)
    height, width = img_maps.shape[2:]
    return (img_maps * mask).sum(dim=(2, 3)) / (height * width)  # (B, D)


def foreground_adjacency(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float, fg_threshold: float, fg_eps: float
) -> torch.Tensor:
    """A_fg = f f^T / tau over the sound-source features of ``foreground_features``."""
    fg = foreground_features(img_maps, aud_emb, tau, fg_threshold, fg_eps)  # (B, D)
    return fg @ fg.t() / tau  # (B, B)


def softmax_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over all B^2 entries of |softmax_row(a) - softmax_row(b)|.

    Softmax runs in float32 even under autocast: the logits are divided by tau = 0.03, so
    bf16 rounding would dominate the small differences these terms measure.
    """
    return (a.float().softmax(dim=1) - b.float().softmax(dim=1)).abs().mean()


def fnac_losses(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, tau: float, fg_threshold: float, fg_eps: float,
    same_class: torch.Tensor | None = None, permutation: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """All loss terms of FNAC, unweighted, as scalar tensors.

    Keys: ``base`` (EZ-VSL symmetric MIL InfoNCE), ``fns_audio`` (FNS with the audio adjacency),
    ``fns_visual`` (FNS with the visual adjacency), ``tne`` (true-negative enhancement: audio
    adjacency against the foreground adjacency). Gradients flow through both sides of every
    term, as upstream.

    The controls: ``same_class`` (B, B) makes ``base`` the oracle's (``oracle_infonce``: true
    false negatives out of the denominators); ``permutation`` (B,) shuffles the two
    false-negative detectors, A_aud and A_img, before the terms (``permute_adjacency``).
    """
    _check_features(img_maps, aud_emb)
    logits = mil_logits(img_maps, aud_emb, tau)  # (B, B)
    adj_audio = audio_adjacency(aud_emb, tau)  # (B, B)
    adj_visual = visual_adjacency(img_maps, tau)  # (B, B)
    adj_fg = foreground_adjacency(img_maps, aud_emb, tau, fg_threshold, fg_eps)  # (B, B)
    if permutation is not None:
        adj_audio, adj_visual = permute_adjacency(adj_audio, permutation), permute_adjacency(adj_visual, permutation)
    base = symmetric_infonce(logits.float()) if same_class is None else oracle_infonce(logits.float(), same_class)
    return {
        "base": base,
        "fns_audio": softmax_l1(adj_audio, logits),
        "fns_visual": softmax_l1(adj_visual, logits),
        "tne": softmax_l1(adj_audio, adj_fg),
    }


# ----------------------------------------------------------------------------- the objectives
FNAC_TERMS = ("fns_audio", "fns_visual", "tne")  # FNAC's regularisers, the keys of ``fnac_losses``


@dataclass(frozen=True)
class Objective:
    """One training method: its base loss, the FNAC terms it adds and where their adjacency comes from."""

    base: Literal["infonce", "oracle"]  # EZ-VSL's symmetric InfoNCE, or the oracle's (same-class negatives removed)
    terms: tuple[str, ...]  # regularisers added to the base, each weighted train.term_weight
    adjacency: Literal["features", "shuffled"]  # A_aud and A_img as computed, or permuted (the shuffled control)
    warmup: bool  # the terms wait for train.warmup_epochs of the base loss alone (published: 5 of 30)


# EZ-VSL, FNAC and each FNAC term alone, and two controls: the oracle removes the true false
# negatives (from the labels, which only the default data knows) from InfoNCE's denominators, the
# ceiling of false-negative handling; shuffled FNAC keeps the terms but reads a permuted adjacency,
# the same regularisers informed by nothing (README, "The losses").
OBJECTIVES: dict[str, Objective] = {
    #                          base       terms                                    adjacency   warm-up
    "ezvsl":         Objective("infonce", (),                                      "features", False),
    "fnac":          Objective("infonce", FNAC_TERMS,                              "features", True),
    "fns_audio":     Objective("infonce", ("fns_audio",),                          "features", True),
    "fns_visual":    Objective("infonce", ("fns_visual",),                         "features", True),
    "tne":           Objective("infonce", ("tne",),                                "features", True),
    "oracle":        Objective("oracle",  (),                                      "features", False),
    "fnac_shuffled": Objective("infonce", FNAC_TERMS,                              "shuffled", True),
}
METHODS = tuple(OBJECTIVES)  # the values of train.method


def total_loss(terms: dict[str, torch.Tensor], objective: Objective, term_weight: float,
               warmed_up: bool) -> torch.Tensor:
    """The base loss, plus ``term_weight`` times each of the objective's terms once ``warmed_up``
    (the published recipe: L_base for 5 epochs, then L_base + 100 * (FNS-audio + FNS-visual + TNE))."""
    loss = terms["base"]
    if (objective.warmup and not warmed_up) or not term_weight:
        return loss
    for name in objective.terms:
        loss = loss + term_weight * terms[name]
    return loss
