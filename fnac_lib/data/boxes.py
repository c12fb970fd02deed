"""Boxes and ground-truth maps: normalised ``x1, y1, x2, y2`` boxes to pixel maps and back.

The default data and the real benchmarks share these; they differ only in how a box edge
becomes a pixel index, which ``edges`` names.
"""

from __future__ import annotations

import math

import numpy as np
import torch

GT_MODES = ("union", "consensus")


def boxes_to_map(boxes, size: int, mode: str = "union", edges: str = "floor") -> torch.Tensor:
    """Ground-truth map (size, size) float32 from normalised boxes (N, 4); all zeros when N = 0.

    ``union`` (VGG-SS, the default data): 1 inside any box. ``consensus`` (Flickr-SoundNet): the
    sum of the box masks / 2, clipped to 1, so a pixel one annotator marked counts 0.5 and one
    marked by two or more counts 1. ``edges="floor"`` maps an edge v to pixel ``int(v * size)``,
    as upstream's ``int(224 * v)`` at any size; ``"round"`` is exact for boxes drawn on pixel
    edges (the default data's, which are pixel edges / size).
    """
    if mode not in GT_MODES:
        raise ValueError(f"unknown ground-truth mode {mode!r}; choose one of {GT_MODES}")
    if edges not in ("floor", "round"):
        raise ValueError(f"edges must be 'floor' or 'round', got {edges!r}")
    to_pixel = (lambda v: int(math.floor(v * size))) if edges == "floor" else (lambda v: int(round(v * size)))
    counts = torch.zeros(size, size)
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        c1, r1, c2, r2 = (to_pixel(v) for v in (x1, y1, x2, y2))
        counts[max(r1, 0):max(r2, 0), max(c1, 0):max(c2, 0)] += 1
    if mode == "consensus":
        return (counts / 2).clamp(max=1.0)
    return (counts > 0).float()


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool masks to (N, 4) float32 tight boxes in [0, 1] (zeros for an empty mask)."""
    n, height, width = masks.shape
    rows, cols = masks.any(axis=2), masks.any(axis=1)  # (N, H), (N, W)
    x1, y1 = cols.argmax(axis=1), rows.argmax(axis=1)
    x2, y2 = width - cols[:, ::-1].argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    boxes = np.stack([x1 / width, y1 / height, x2 / width, y2 / height], axis=1).astype(np.float32)  # (N, 4)
    boxes[~cols.any(axis=1)] = 0
    return boxes.reshape(n, 4)


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """Normalised bounding box (1, 4) of a binary (H, W) mask; (0, 4) when the mask is empty."""
    binary = (mask > 0.5).numpy()
    if not binary.any():
        return torch.zeros(0, 4)
    return torch.from_numpy(masks_to_boxes(binary[None]))
