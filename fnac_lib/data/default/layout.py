"""Where the objects of a scene go: boxes drawn from one size distribution, with bounded overlap.

Every object, sounding or silent, draws its box area from the same range (its aspect ratio is the
picture's own, so thin and wide objects cover as much of the canvas as round ones) and is placed in a random
order, so the sounding object is exchangeable with the distractors: neither its size nor its
position nor its place in the paint order tells it apart (``tests/test_scenes.py`` checks it).
"""

from __future__ import annotations

import math

import numpy as np


def box_overlap(a: tuple, b: tuple) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller


def box_shape(area: float, aspect: float) -> tuple[float, float]:
    """Width and height of a box of ``area`` (a fraction of the canvas) and width / height ``aspect``,
    shrunk to fit the canvas when one side would leave it."""
    w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)  # Python floats: no NumPy scalars per attempt
    scale = min(1.0, 1.0 / max(w, h))
    return w * scale, h * scale


def _try_place(rng: np.random.Generator, aspect: float, placed: list[tuple], areas: tuple[float, float],
               max_overlap: float, tries: int) -> tuple[tuple | None, tuple]:
    """A box of width / height ``aspect`` whose area starts in ``areas`` and shrinks towards the
    smallest area as tries fail; returns (box or None, the last candidate)."""
    low, top = areas
    candidate = None
    for attempt in range(tries):
        high = max(top - (top - low) * attempt / max(tries - 1, 1), low)
        # One draw of three uniforms, scaled as rng.uniform(low, high), rng.uniform(0, 1 - w) and
        # rng.uniform(0, 1 - h) scale theirs: the same numbers from the same stream, in a third of the calls
        u_area, u_x, u_y = rng.random(3).tolist()
        w, h = box_shape(low + (high - low) * u_area, aspect)
        x, y = (1 - w) * u_x, (1 - h) * u_y
        candidate = (x, y, x + w, y + h)
        if all(box_overlap(candidate, other) <= max_overlap for other in placed):
            return candidate, candidate
    return None, candidate


def place_boxes(rng: np.random.Generator, aspects: list[float], areas: tuple[float, float], max_overlap: float,
                tries: int, required: int = 1, minimum: int = 1, layouts: int = 8) -> list[tuple | None]:
    """Boxes in [0, 1] canvas units for objects of the given aspects (width / height).

    Objects are placed one by one in a random order, each with ``tries`` attempts. The first
    ``required`` objects (the sounding ones) must get a box, and at least ``minimum`` objects in
    all: when a layout falls short the whole layout is drawn again (up to ``layouts`` times; the
    last time a required object that finds no room keeps its last candidate, overlapping). Other
    objects that find no room get ``None`` and are left out of the picture.
    """
    minimum = min(max(minimum, required), len(aspects))
    for layout in range(layouts):
        last = layout == layouts - 1
        boxes: list[tuple | None] = [None] * len(aspects)
        for k in rng.permutation(len(aspects)):
            placed = [b for b in boxes if b is not None]
            box, candidate = _try_place(rng, aspects[k], placed, areas, max_overlap, tries)
            boxes[k] = candidate if box is None and k < required and last else box
        placed = sum(b is not None for b in boxes)
        if last or (placed >= minimum and all(b is not None for b in boxes[:required])):
            return boxes
    return boxes
