"""False negatives in contrastive batches, and what they do to InfoNCE (notebook 01).

A *false negative* is an off-diagonal pair (i, j), i != j, of a contrastive batch whose items
share a class: InfoNCE treats audio j as a negative for image i although it may sound just like
i's own clip. The default data knows every label, so the problem is measured exactly.

Everything is a pure, vectorised function of arrays or tensors; a label < 0 means "unknown" and
never forms a same-class pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import binom

from ..constants import TAU
from ..losses import mil_logits, symmetric_infonce


def same_class_pairs(labels) -> np.ndarray:
    """(B, B) bool: True where i != j and both items carry the same known class."""
    labels = np.asarray(labels).ravel()
    same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)  # (B, B)
    np.fill_diagonal(same, False)
    return same


def same_class_negatives(labels) -> np.ndarray:
    """(B,) int: how many of each anchor's B - 1 negatives share its class (false negatives)."""
    return same_class_pairs(labels).sum(axis=1)


def false_negative_rate(labels) -> float:
    """Fraction of the B (B - 1) negative pairs of a batch that share the anchor's class."""
    batch = len(np.asarray(labels).ravel())
    return float(same_class_negatives(labels).sum() / (batch * (batch - 1)))


def class_distribution(labels, num_classes: int | None = None) -> np.ndarray:
    """(C,) empirical class probabilities p_c of the known (>= 0) labels."""
    labels = np.asarray(labels).ravel()
    counts = np.bincount(labels[labels >= 0], minlength=num_classes or 0).astype(float)
    return counts / counts.sum()


def label_statistics(labels) -> dict[str, float]:
    """``classes`` present and ``effective_classes`` = 1 / sum_c p_c^2, the number of equally
    frequent classes with the same false-negative rate: an anchor has (B - 1) / effective_classes."""
    probs = class_distribution(labels)
    return {"classes": int(np.count_nonzero(probs)), "effective_classes": float(1 / np.sum(probs**2))}


def expected_same_class_negatives(batch_sizes, class_probs) -> np.ndarray:
    """Expected false negatives per anchor, (B - 1) * sum_c p_c^2, for each batch size B.

    Each of the B - 1 other items is an independent draw that matches the anchor's class c with
    probability p_c, and the anchor is of class c with probability p_c. Batches drawn without
    replacement from N items give (B - 1) * sum_c n_c (n_c - 1) / (N (N - 1)), smaller by O(1/N).
    """
    probs = np.asarray(class_probs, dtype=float)
    return (np.asarray(batch_sizes, dtype=float) - 1) * np.sum(probs**2)


def sample_batches(num_items: int, batch_size: int, num_batches: int, seed: int = 0) -> np.ndarray:
    """(num_batches, batch_size) indices: each row a batch without repeats, as a shuffled loader draws."""
    if batch_size > num_items:
        raise ValueError(f"batch size {batch_size} exceeds the {num_items} items available")
    rng = np.random.default_rng(seed)
    keys = rng.random((num_batches, num_items))  # (n, N): one random order per batch
    return np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size]  # (n, B)


def measured_same_class_negatives(labels, batch_sizes, num_batches: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over sampled batches of the per-anchor false-negative count.

    For every batch size, ``num_batches`` batches are drawn from ``labels`` (a dataset's sounding
    classes) without replacement; a batch's value is the mean over its anchors.
    """
    labels = np.asarray(labels).ravel()
    known = labels >= 0
    num_classes = int(labels.max()) + 2  # one spare slot collects the unknown labels
    codes = np.where(known, labels, num_classes - 1)
    means, stds = [], []
    for size in np.asarray(batch_sizes).ravel():
        batch = codes[sample_batches(len(codes), int(size), num_batches, seed)]  # (n, B)
        rows = np.arange(num_batches)[:, None]  # (n, 1)
        counts = np.bincount((batch + rows * num_classes).ravel(), minlength=num_batches * num_classes)
        in_batch = counts.reshape(num_batches, num_classes)[rows, batch]  # (n, B): class size in the batch
        per_anchor = np.where(batch == num_classes - 1, 0, in_batch - 1)  # (n, B)
        per_batch = per_anchor.mean(axis=1)  # (n,)
        means.append(per_batch.mean())
        stds.append(per_batch.std())
    return np.array(means), np.array(stds)


def false_negative_curves(label_sets: dict[str, np.ndarray], batch_sizes, num_batches: int = 200,
                          seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per label set: ``expected`` (formula, from the labels' class distribution), ``measured``
    and ``std`` (sampled batches) false negatives per anchor at each batch size."""
    curves = {}
    for name, labels in label_sets.items():
        measured, std = measured_same_class_negatives(labels, batch_sizes, num_batches, seed)
        expected = expected_same_class_negatives(batch_sizes, class_distribution(labels))
        curves[name] = {"expected": expected, "measured": measured, "std": std}
    return curves


def infonce_floor(labels, gap: float = np.inf) -> float:
    """Lowest symmetric InfoNCE (EZ-VSL base loss, both directions summed) reachable on a batch
    whose same-class items are indistinguishable.

    Row i of CE(L, diag) is log(1 + sum_{j != i} exp(L_ij - L_ii)). Indistinguishable same-class
    items score like the positive (L_ij = L_ii for the k_i false negatives), so the row is
    log(1 + k_i + sum_{true neg} exp(L_in - L_ii)) >= log(1 + k_i): equality when every true
    negative scores ``gap`` = infinitely far below. The same-class relation is symmetric, so
    the columns give the same and the floor is 2 * mean_i log(1 + k_i). A finite logit ``gap``
    (unit vectors over tau bound it) adds (B - 1 - k_i) exp(-gap) inside each log.
    """
    fn = same_class_negatives(labels)  # (B,)
    true_neg = len(fn) - 1 - fn  # (B,)
    tail = 0.0 if np.isinf(gap) else np.exp(-gap)
    return float(2 * np.log1p(fn + true_neg * tail).mean())


def expected_infonce_floor(batch_sizes, class_probs) -> np.ndarray:
    """E[``infonce_floor``] for batches of independent draws: 2 * sum_c p_c E[log(1 + K_c)],
    with K_c ~ Binomial(B - 1, p_c) the false negatives of an anchor of class c."""
    probs = np.asarray(class_probs, dtype=float)  # (C,)
    floors = []
    for size in np.asarray(batch_sizes).ravel():
        k = np.arange(int(size))  # (B,): 0 .. B - 1 false negatives
        pmf = binom.pmf(k[None, :], int(size) - 1, probs[:, None])  # (C, B)
        floors.append(2 * np.sum(probs * (pmf @ np.log1p(k))))
    return np.array(floors)


def chance_infonce(batch_sizes) -> np.ndarray:
    """Symmetric InfoNCE of uniform logits, 2 log B: where an untrained model starts."""
    return 2 * np.log(np.asarray(batch_sizes, dtype=float))


def logit_gradient(logits: torch.Tensor) -> torch.Tensor:
    """(B, B) gradient of the symmetric InfoNCE with respect to its logits.

    Entry (i, j) is (softmax_row(L)_ij + softmax_col(L)_ij - 2 [i = j]) / B: positive off the
    diagonal (the push that lowers L_ij, i.e. pulls the pair apart), negative on it, summing to 0.
    """
    logits = logits.detach().float().requires_grad_(True)
    (grad,) = torch.autograd.grad(symmetric_infonce(logits), logits)
    return grad  # (B, B)


def pair_masks(labels, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """(B, B) bool masks of the positives (diagonal), false negatives and true negatives."""
    same = torch.as_tensor(same_class_pairs(labels), device=device)  # (B, B)
    positive = torch.eye(len(same), dtype=torch.bool, device=device)
    return {"positive": positive, "false_negative": same, "true_negative": ~same & ~positive}


def embedding_gradient_split(
    img_maps: torch.Tensor, aud_emb: torch.Tensor, labels, tau: float = TAU
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Gradient of the EZ-VSL base loss with respect to the features, split by pair type.

    The loss reaches the features only through the logits, so by the chain rule the gradient is
    sum_ij G_ij dL_ij/d(features): a sum of one term per pair. Back-propagating G masked to the
    positives, the false negatives and the true negatives gives three parts that add up exactly to
    ``total``. Values are (grad wrt img_maps (B, D, H, W), grad wrt aud_emb (B, D)).
    """
    img_maps = img_maps.detach().float().requires_grad_(True)
    aud_emb = aud_emb.detach().float().requires_grad_(True)
    logits = mil_logits(img_maps, aud_emb, tau)  # (B, B)
    grad = logit_gradient(logits)  # (B, B)
    parts = {}
    for name, mask in {**pair_masks(labels, grad.device), "total": None}.items():
        upstream = grad if mask is None else grad * mask
        parts[name] = torch.autograd.grad(logits, (img_maps, aud_emb), upstream, retain_graph=True)
    return parts


def gradient_split_summary(img_maps: torch.Tensor, aud_emb: torch.Tensor, labels, tau: float = TAU) -> dict[str, float]:
    """How much of InfoNCE's push goes into same-class pairs, on one batch of features.

    ``fn_rate``: fraction of negatives that are false negatives. ``fn_push_share``: fraction of
    the total off-diagonal logit gradient (the push apart) that lands on them; above ``fn_rate``
    means each same-class pair is pushed harder than a true negative. ``push_per_fn_pair`` /
    ``push_per_tn_pair``: mean logit gradient per pair of each kind. ``emb_grad_*``: Frobenius
    norm of each part of the feature gradient (images and audio together).
    """
    logits = mil_logits(img_maps.float(), aud_emb.float(), tau)  # (B, B)
    grad = logit_gradient(logits)  # (B, B)
    masks = pair_masks(labels, grad.device)
    push = {name: grad[mask].sum().item() for name, mask in masks.items()}
    pairs = {name: int(mask.sum()) for name, mask in masks.items()}
    negatives = push["false_negative"] + push["true_negative"]
    summary = {
        "loss": symmetric_infonce(logits).item(),
        "floor": infonce_floor(labels),
        "fn_rate": pairs["false_negative"] / max(pairs["false_negative"] + pairs["true_negative"], 1),
        "fn_push_share": push["false_negative"] / negatives,
        "push_per_fn_pair": push["false_negative"] / max(pairs["false_negative"], 1),
        "push_per_tn_pair": push["true_negative"] / max(pairs["true_negative"], 1),
    }
    for name, (g_img, g_aud) in embedding_gradient_split(img_maps, aud_emb, labels, tau).items():
        summary[f"emb_grad_{name}"] = torch.sqrt(g_img.square().sum() + g_aud.square().sum()).item()
    return summary


def class_aware_features(labels, dim: int = 64, instance: float = 0.0, modality: float = 0.25, size: int = 4,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of an idealised model that has learnt the classes: (img_maps (B, D, size, size), aud_emb (B, D)).

    Item i of class c is prototype_c + ``instance`` * z_i (its own detail); its picture and sound
    each add ``modality`` * independent noise before unit normalisation (noise vectors have unit
    length on average). A picture meets its own sound at cosine about (1 + instance^2) / n and a
    same-class sound at 1 / n, n = 1 + instance^2 + modality^2: with ``instance`` = 0 the model
    knows the class and nothing finer, so same-class items are indistinguishable (the setting of
    ``infonce_floor``). Unknown labels (< 0) get a prototype each; the picture is the same at
    every location.
    """
    labels = np.asarray(labels).ravel()
    gen = torch.Generator().manual_seed(seed)
    codes = torch.as_tensor(np.where(labels >= 0, labels, labels.max(initial=0) + 1 + np.arange(len(labels))))
    _, codes = torch.unique(codes, return_inverse=True)  # (B,) dense class ids
    prototypes = F.normalize(torch.randn(int(codes.max()) + 1, dim, generator=gen), dim=1)  # (C, D)
    scale = dim**-0.5  # unit-length noise vectors on average
    items = prototypes[codes] + instance * scale * torch.randn(len(labels), dim, generator=gen)  # (B, D)
    img = F.normalize(items + modality * scale * torch.randn(len(labels), dim, generator=gen), dim=1)  # (B, D)
    aud = F.normalize(items + modality * scale * torch.randn(len(labels), dim, generator=gen), dim=1)  # (B, D)
    return img[:, :, None, None].expand(-1, -1, size, size).contiguous(), aud


def class_aware_gradient_splits(label_sets: dict[str, np.ndarray], batch_size: int, num_batches: int, seed: int = 0,
                                tau: float = TAU, **feature_args) -> dict[str, dict[str, float]]:
    """``gradient_split_summary`` of ``class_aware_features`` on batches of real labels, averaged:
    where InfoNCE's push goes once a model has learnt the classes."""
    splits = {}
    for name, labels in label_sets.items():
        rows = sample_batches(len(labels), batch_size, num_batches, seed)  # (n, B)
        summaries = [gradient_split_summary(*class_aware_features(np.asarray(labels)[row], seed=seed + n, **feature_args),
                                            np.asarray(labels)[row], tau) for n, row in enumerate(rows)]
        splits[name] = {key: float(np.mean([s[key] for s in summaries])) for key in summaries[0]}
    return splits
