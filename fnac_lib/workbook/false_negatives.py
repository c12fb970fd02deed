"""Notebook 01: false negatives in contrastive batches, and what they do to InfoNCE.

A *false negative* is an off-diagonal pair (i, j), i != j, of a contrastive batch whose items
share a class: InfoNCE treats audio j as a negative for image i although it may sound just like
i's own clip. The default data knows every label, so the problem is measured exactly.

The measurements are pure, vectorised functions of arrays or tensors (a label < 0 means "unknown"
and never forms a same-class pair: ``common.same_class_pairs``), then their figures (each returns a
matplotlib Figure; the notebook decides whether to show or save it), the gradient-split table and
its reading (``reading``: each model's loss, floors and push in words, computed from the table).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from scipy.stats import binom
from torch.utils.data import Dataset

from ..losses import mil_logits, symmetric_infonce
from ..model import AVModel
from .common import (MAX_WIDTH, STYLE, as_numpy, batch_features, class_distribution, legible, markdown_table,
                     random_batches, sample_batches, same_class_negatives, same_class_pairs)
from .seed_noise import listed

# ---------------------------------------------------------------------------------------------
# How many negatives share the anchor's class.


def expected_same_class_negatives(batch_sizes, class_probs) -> np.ndarray:
    """Expected false negatives per anchor, (B - 1) * sum_c p_c^2, for each batch size B.

    Each of the B - 1 other items is an independent draw that matches the anchor's class c with
    probability p_c, and the anchor is of class c with probability p_c. Batches drawn without
    replacement from N items give (B - 1) * sum_c n_c (n_c - 1) / (N (N - 1)), smaller by O(1/N).
    """
    probs = np.asarray(class_probs, dtype=float)
    return (np.asarray(batch_sizes, dtype=float) - 1) * np.sum(probs**2)


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
    """Symmetric InfoNCE of uniform logits, 2 ln B: chance, the loss of a model that cannot tell an item's
    partner from the others (one with random features sits above it: its logits over tau are confident and wrong)."""
    return 2 * np.log(np.asarray(batch_sizes, dtype=float))


# ---------------------------------------------------------------------------------------------
# Where InfoNCE's push apart goes.


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
    img_maps: torch.Tensor, aud_emb: torch.Tensor, labels, tau: float
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


def gradient_split_summary(img_maps: torch.Tensor, aud_emb: torch.Tensor, labels, tau: float) -> dict[str, float]:
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


def class_aware_gradient_splits(label_sets: dict[str, np.ndarray], batch_size: int, num_batches: int, seed: int,
                                tau: float, **feature_args) -> dict[str, dict[str, float]]:
    """``gradient_split_summary`` of ``class_aware_features`` on batches of real labels, averaged:
    where InfoNCE's push goes once a model has learnt the classes."""
    splits = {}
    for name, labels in label_sets.items():
        rows = sample_batches(len(labels), batch_size, num_batches, seed)  # (n, B)
        summaries = [gradient_split_summary(*class_aware_features(np.asarray(labels)[row], seed=seed + n, **feature_args),
                                            np.asarray(labels)[row], tau) for n, row in enumerate(rows)]
        splits[name] = {key: float(np.mean([s[key] for s in summaries])) for key in summaries[0]}
    return splits


def gradient_splits(model: AVModel, dataset: Dataset, label_sets: dict[str, np.ndarray], batch_size: int,
                    num_batches: int, seed: int, tau: float, device: torch.device | str = "cpu",
                    progress: bool = True) -> dict[str, dict[str, float]]:
    """``gradient_split_summary`` averaged over real batches of ``dataset``, once per label set.

    ``label_sets`` maps a name to (N,) labels of the dataset's items (e.g. fine and coarse labels
    of the same scenes): the features of a batch are computed once and every labelling splits them.
    """
    summaries: dict[str, list[dict]] = {name: [] for name in label_sets}
    for indices, batch in random_batches(dataset, batch_size, num_batches, seed, progress, "gradient split"):
        img_maps, aud_emb = batch_features(model, batch, device)
        for name, labels in label_sets.items():
            summaries[name].append(gradient_split_summary(img_maps, aud_emb, np.asarray(labels)[indices], tau))
    return {name: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} for name, rows in summaries.items()}


# ---------------------------------------------------------------------------------------------
# Figures and the table.


@legible
def plot_same_class_negatives(batch_sizes, curves: dict[str, dict],
                              panels: dict[str, list[str]] | None = None) -> Figure:
    """False negatives per anchor against batch size: lines are (B - 1) sum_c p_c^2, markers the
    mean (+- std) over sampled batches, one colour per label set.

    ``curves``: {label set: {"expected": (n,), "measured": (n,), "std": (n,)}} as
    ``false_negative_curves`` returns; ``panels``: {title: [label sets]} (default: one panel).
    """
    sizes = as_numpy(batch_sizes)
    panels = panels or {"": list(curves)}
    colours = dict(zip(curves, sns.color_palette("deep")))
    with sns.axes_style(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, (title, names) in zip(axes.flat, panels.items()):
        for name in names:
            values = curves[name]
            ax.plot(sizes, values["expected"], color=colours[name], label=f"{name}: expected")
            if "measured" in values:
                ax.errorbar(sizes, values["measured"], yerr=values.get("std"), fmt="o", color=colours[name], ms=4,
                            capsize=2, label=f"{name}: measured")
        ax.set(xscale="log", yscale="log", title=title, xlabel="batch size B")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.legend(loc="lower right")  # the counts rise to the upper right: this corner stays empty
    axes.flat[0].set_ylabel("same-class negatives per anchor")
    fig.tight_layout()
    return fig


@legible
def plot_infonce_floor(batch_sizes, floors: dict[str, np.ndarray]) -> Figure:
    """Left: the expected symmetric-InfoNCE floor per label set against the chance loss 2 ln B.
    Right: the floor as a fraction of the chance loss, the part training can never remove."""
    sizes = as_numpy(batch_sizes)
    chance = chance_infonce(sizes)
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(sizes, chance, "k--", label="chance, 2 ln B")
    for colour, (name, floor) in zip(sns.color_palette("deep"), floors.items()):
        left.plot(sizes, as_numpy(floor), "o-", color=colour, ms=4, label=name)
        right.plot(sizes, as_numpy(floor) / chance, "o-", color=colour, ms=4, label=name)
    left.set(xscale="log", xlabel="batch size B", ylabel="symmetric InfoNCE", title="lowest reachable loss")
    right.set(xscale="log", xlabel="batch size B", ylabel="floor / chance", ylim=(0, 1),
              title="share of the chance loss that cannot go")
    for ax in (left, right):
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.legend()
    fig.tight_layout()
    return fig


@legible
def plot_gradient_split(summaries: dict[str, dict]) -> Figure:
    """Where InfoNCE's push apart goes, per condition (``gradient_split_summary``).

    Left: two shares per condition, of the negative pairs that are same-class and of the push
    that lands on them. Right: the mean push on one same-class pair against one true-negative pair.
    """
    names = list(summaries)
    y = np.arange(len(names))
    palette = sns.color_palette("deep")
    with sns.axes_style(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(MAX_WIDTH, 1.2 + 0.5 * len(names)), sharey=True)
    left.barh(y - 0.2, [summaries[n]["fn_rate"] for n in names], 0.4, color=palette[7],
              label="same-class share of the negative pairs")
    left.barh(y + 0.2, [summaries[n]["fn_push_share"] for n in names], 0.4, color=palette[3],
              label="same-class share of the push")
    left.set(xlabel="share (0 to 1)", xlim=(0, 1), title="how much of the push hits same-class pairs")
    right.barh(y - 0.2, [summaries[n]["push_per_tn_pair"] for n in names], 0.4, color=palette[0],
               label="one true negative")
    right.barh(y + 0.2, [summaries[n]["push_per_fn_pair"] for n in names], 0.4, color=palette[3],
               label="one same-class negative")
    right.set(xlabel="dL / dL_ij, mean per pair", title="push on one pair")
    left.set_yticks(y, names)
    left.invert_yaxis()  # first condition on top
    for ax in (left, right):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / len(names)), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def gradient_split_markdown(splits: dict[str, dict], chance: float) -> str:
    """Notebook 01's gradient split per condition (``gradient_splits``): the loss beside its
    floor and the chance level, where the push on negatives goes, and the feature-gradient norms."""
    header = ["condition", "loss", "floor", "chance 2 ln B", "same-class share of negatives", "share of the push",
              "gradient norm: false negatives", "positives", "total"]
    body = [[name, f"{s['loss']:.2f}", f"{s['floor']:.2f}", f"{chance:.2f}", f"{s['fn_rate']:.1%}",
             f"{s['fn_push_share']:.1%}", f"{s['emb_grad_false_negative']:.2f}", f"{s['emb_grad_positive']:.2f}",
             f"{s['emb_grad_total']:.2f}"] for name, s in splits.items()]
    return markdown_table(header, body)


# ---------------------------------------------------------------------------------------------
# The reading: what the gradient split says about each model, computed from its numbers.

HARDER = 2.0  # same-class pairs take this many times their share of the push or more: pushed harder than true negatives
ON_FLOOR = 0.1  # a loss at most this fraction above its floor sits on it
BELOW_FLOOR = ("the floor assumes same-class items cannot be told apart, so the model separates items those labels "
               "call one class")


def reading(splits: dict[str, dict], chance: float) -> str:
    """Notebook 01's reading of its gradient split (``gradient_splits``, keyed "label set, model"):
    a line per model, computed from its numbers: its loss against chance (2 ln B) and against each
    label set's floor, the same-class pairs' share of the push against their share of the pairs,
    and the false negatives' part of the feature gradient against the positives' pull."""
    by_model: dict[str, dict[str, dict]] = {}
    for name, split in splits.items():
        labels, model = name.rsplit(", ", 1)
        by_model.setdefault(model, {})[labels] = split
    return "\n".join(f"* **{model}**\n" + "\n".join(f"  * {clause[0].upper()}{clause[1:]}." for clause in
                                                  [_loss(found, chance), *_floors(found), _push(found), _gradient(found)])
                     for model, found in by_model.items())


def _loss(found: dict[str, dict], chance: float) -> str:
    losses: dict[str, list[str]] = {}  # each loss with the label sets whose batches gave it
    for labels, split in found.items():
        losses.setdefault(f"{split['loss']:.2f}", []).append(labels)
    values = [split["loss"] for split in found.values()]
    side = "above" if min(values) > chance else "below" if max(values) < chance else "around"
    why = {"above": ": it cannot tell a clip from the others yet, and features divided by a small tau make confident, "
                    "wrong guesses; training has to bring the loss down to chance first",
           "below": ": it tells a clip from the others", "around": ""}[side]
    return f"loss {listed([f'{loss} ({listed(names)})' for loss, names in losses.items()])}, {side} chance " \
           f"({chance:.2f}){why}"


def _floors(found: dict[str, dict]) -> list[str]:
    place = {labels: "below" if s["loss"] < s["floor"] else "on" if s["loss"] <= s["floor"] * (1 + ON_FLOOR) else
             "above" for labels, s in found.items()}
    return [f"{where} the floor of " + listed([f"{labels} ({found[labels]['floor']:.2f})" for labels in found
                                               if place[labels] == where]) + (f": {BELOW_FLOOR}" if where == "below" else "")
            for where in ("below", "on", "above") if where in place.values()]


def _push(found: dict[str, dict]) -> str:
    times = {labels: s["fn_push_share"] / s["fn_rate"] for labels, s in found.items() if s["fn_rate"] > 0}
    shares = listed([f"{s['fn_push_share']:.1%} of the push for {s['fn_rate']:.1%} of the pairs ({labels}, "
                     f"{times.get(labels, 0):.1f}x)" for labels, s in found.items()])
    if times and min(times.values()) >= HARDER:
        return f"same-class negatives get {shares}: pushed harder than true negatives, so the model scores them " \
               "as alike and InfoNCE pushes against that"
    plain = times and all(1 / HARDER < t < HARDER for t in times.values())
    return f"same-class negatives get {shares}" + (": about their plain share, so the model does not score "
                                                   "same-class items as more alike than others" if plain else "")


def _gradient(found: dict[str, dict]) -> str:
    labels, s = next(iter(found.items()))
    fn, pos, total = s["emb_grad_false_negative"], s["emb_grad_positive"], s["emb_grad_total"]
    return f"in the feature gradient ({labels}) the false negatives' part is {fn:.2f} against the positives' " \
           f"{pos:.2f}" + (f", and the total ({total:.2f}) is below the positives' part: the push undoes part of "
                           "the pull" if total < pos and fn > pos / 2 else "")
