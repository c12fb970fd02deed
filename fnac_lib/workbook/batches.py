"""Measurements on real batches of a dataset: features of a model, and the per-batch analyses
of ``false_negatives`` and ``adjacency`` averaged over batches drawn as a shuffled loader would."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..constants import TAU
from ..data.sample import collate_samples
from ..model import AVModel
from ..progress import track
from .adjacency import adjacency_matrices, pair_detection
from .false_negatives import false_negative_rate, gradient_split_summary, sample_batches


@torch.no_grad()
def batch_features(model: AVModel, batch: dict, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(img_maps (B, D, H, W), aud_emb (B, D)) of a collated batch, the model in eval mode."""
    model.eval().to(device)
    return model(batch["image"].to(device), batch["audio"].to(device))  # (B, D, H, W), (B, D)


def random_batches(dataset: Dataset, batch_size: int, num_batches: int, seed: int = 0, progress: bool = True,
                   desc: str = "batches"):
    """Yield (indices (B,), collated batch) for ``num_batches`` batches of distinct random items,
    as a shuffled loader would draw them."""
    rows = sample_batches(len(dataset), batch_size, num_batches, seed)  # (n, B)
    for indices in track(rows, desc, enabled=progress, leave=False, unit="batches"):
        yield indices, collate_samples([dataset[int(i)] for i in indices])


def gradient_splits(model: AVModel, dataset: Dataset, label_sets: dict[str, np.ndarray], batch_size: int,
                    num_batches: int, seed: int = 0, tau: float = TAU, device: torch.device | str = "cpu",
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


def dataset_labels(dataset: Dataset, progress: bool = True) -> np.ndarray:
    """(N,) sounding class of every item, read sample by sample."""
    items = track(range(len(dataset)), "reading labels", enabled=progress, leave=False, unit="samples")
    return np.array([int(dataset[i]["label"]) for i in items], dtype=np.int64)


def adjacency_detection(model: AVModel, dataset: Dataset, label_sets: dict[str, np.ndarray], batch_size: int,
                        num_batches: int, seed: int = 0, tau: float = TAU, device: torch.device | str = "cpu",
                        progress: bool = True) -> dict[str, dict[str, dict[str, float]]]:
    """``pair_detection`` of every ``adjacency_matrices`` entry, averaged over real batches:
    {label set: {matrix: {auroc, average_precision, r_precision, positive_rate, batches}}}.

    A batch whose labelling has no same-class pair cannot score a detector and is skipped for that
    labelling; ``batches`` counts the ones used.
    """
    scores: dict[str, dict[str, list[dict]]] = {name: {} for name in label_sets}
    for indices, batch in random_batches(dataset, batch_size, num_batches, seed, progress, "pair detection"):
        matrices = adjacency_matrices(*batch_features(model, batch, device), tau)
        for name, labels in label_sets.items():
            batch_labels = np.asarray(labels)[indices]
            if not 0 < false_negative_rate(batch_labels) < 1:
                continue
            for matrix_name, matrix in matrices.items():
                scores[name].setdefault(matrix_name, []).append(pair_detection(matrix.cpu().numpy(), batch_labels))
    return {name: {matrix_name: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} | {"batches": len(rows)}
                   for matrix_name, rows in per_matrix.items()}
            for name, per_matrix in scores.items()}
