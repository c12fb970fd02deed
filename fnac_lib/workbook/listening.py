"""Notebook 04: where the listening test's misses go, rendering by rendering, pair by pair, class by class.

A listening pair is one picture holding two objects that can both sound, rendered once with each
one's recording (scenes ``2k`` and ``2k + 1``, ids ending in ``a`` and ``b``); a rendering is a hit
when its map's maximum falls on the pixels of the object heard. A miss can land beside that object
(on the background inside its box, nearer to it than to any other object: the map found the object
but its maximum fell on a transparent part of the cut-out, as a map of coarse cells can), on the
other sounding object, on a silent one, or elsewhere on the background. A pair says more than its
two renderings: where both maxima fall on one object, the map did not change with the sound; where
each falls on the other sounding object, the sounds were told apart but matched the wrong way
round. Only the default data's scenes know which object owns each pixel (``scene(i).owner``), so
real benchmarks have no listening pairs to read.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy import ndimage

from ..evaluation import Predictions
from .common import MAX_WIDTH, colours, legible, markdown_table, method_label

PLACES = ("on the object heard", "beside the object heard", "on the other sounding object", "on a silent object",
          "on the background")
OUTCOMES = ("both heard", "same object for both sounds", "swapped", "elsewhere")
_OUTCOME_HELP = {
    "both heard": "each rendering's map peaks on the object that sounds in it",
    "same object for both sounds": "both maps peak on one object (either sounding one, or a silent one)",
    "swapped": "each map peaks on the other sounding object",
    "elsewhere": "any other case: a peak on the background, or on a silent object once",
}


def scene_owners(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(owners, heard)`` of a listening test's scenes: (N, S, S) the paint-order index of the object
    showing at each pixel (-1: background) and (N,) the index of the object that sounds."""
    owners, heard = [], []
    for index in range(len(dataset)):
        scene = dataset.scene(index)
        if len(scene.masks) != 1:
            raise ValueError(f"{scene.id}: a listening scene plays one object, this one has {len(scene.masks)}")
        owners.append(scene.owner)
        heard.append(int(np.unique(scene.owner[scene.masks[0]])[0]))
    return np.stack(owners), np.array(heard, dtype=np.int64)


def peak_owners(av_maps: torch.Tensor, owners: np.ndarray, heard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(peaked, beside)`` of the maps ``av_maps`` (N, H, W) on scenes of ``scene_owners``: the index
    of the object under each map's maximum (-1 on the background), and whether a maximum on the
    background lies beside the object heard (inside its box, nearer to it than to any other object)."""
    if owners.shape != tuple(av_maps.shape):
        raise ValueError(f"maps of {tuple(av_maps.shape)} for scenes of {owners.shape} (scenes, px, px)")
    peaks = av_maps.flatten(1).argmax(dim=1).numpy()  # (N,) flat index of each map's maximum
    peaked = owners.reshape(len(owners), -1)[np.arange(len(owners)), peaks].astype(np.int64)  # (N,)
    beside = np.zeros(len(peaks), dtype=bool)
    for index in np.flatnonzero(peaked < 0):
        row, col = divmod(int(peaks[index]), owners.shape[2])
        beside[index] = _beside(owners[index], int(heard[index]), row, col)
    return peaked, beside


def _beside(owner: np.ndarray, heard: int, row: int, col: int) -> bool:
    """Whether background pixel (row, col) of ``owner`` (S, S) lies in the box of object ``heard``
    and nearer to its pixels than to those of every other object."""
    ys, xs = np.nonzero(owner == heard)
    if not (ys.min() <= row <= ys.max() and xs.min() <= col <= xs.max()):
        return False
    distance = ndimage.distance_transform_edt(owner != heard)[row, col]
    others = (owner >= 0) & (owner != heard)
    return not others.any() or distance < ndimage.distance_transform_edt(~others)[row, col]


def rendering_places(peaked: np.ndarray, heard: np.ndarray, beside: np.ndarray) -> np.ndarray:
    """Where each rendering's maximum fell (an index into ``PLACES``), from ``scene_owners``'s ``heard``
    and ``peak_owners``'s arrays (renderings ``2k`` and ``2k + 1`` share a picture). Returns (N,)."""
    other = heard.reshape(-1, 2)[:, ::-1].reshape(-1)  # (N,) the object heard in the pair's other rendering
    place = np.full(len(peaked), PLACES.index("on the background"))
    place[peaked >= 0] = PLACES.index("on a silent object")
    place[peaked == other] = PLACES.index("on the other sounding object")
    place[beside] = PLACES.index("beside the object heard")
    place[peaked == heard] = PLACES.index("on the object heard")
    return place


def pair_outcomes(peaked: np.ndarray, heard: np.ndarray, ids: list[str]) -> np.ndarray:
    """The outcome (an index into ``OUTCOMES``) of each listening pair: renderings ``2k`` and ``2k + 1``
    of one picture (``peaked`` of ``peak_owners``, ``heard`` of ``scene_owners``). Returns (N // 2,)."""
    if len(peaked) % 2 or len(ids) != len(peaked):
        raise ValueError(f"a listening test holds pairs of renderings with one id each, got {len(peaked)} maps "
                         f"and {len(ids)} ids")
    for first, second in zip(ids[0::2], ids[1::2]):
        if first[-1:] != "a" or second != first[:-1] + "b":
            raise ValueError(f"scenes {first!r} and {second!r} are not the two renderings of one listening pair")
    pa, pb, ha, hb = peaked[0::2], peaked[1::2], heard[0::2], heard[1::2]  # (P,) each
    outcome = np.full(len(pa), OUTCOMES.index("elsewhere"))
    outcome[(pa == pb) & (pa >= 0)] = OUTCOMES.index("same object for both sounds")
    outcome[(pa == hb) & (pb == ha)] = OUTCOMES.index("swapped")
    outcome[(pa == ha) & (pb == hb)] = OUTCOMES.index("both heard")
    return outcome


def shares(indices: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """``{name: share of indices equal to its position in names}``."""
    counts = np.bincount(indices, minlength=len(names))
    return {name: float(count / max(len(indices), 1)) for name, count in zip(names, counts)}


def listening_table(predictions: dict[tuple[str, str], Predictions], sets) -> dict[str, dict[str, dict]]:
    """``{test set: {run: entry}}`` for every listening test in ``sets`` that knows its objects and
    every run whose maps were kept; an entry holds ``pairs`` (their number), ``places`` (``{place:
    share of renderings}``), ``outcomes`` (``{outcome: share of pairs}``) and ``by_class`` (``{class
    heard: (hits, renderings)}``)."""
    table = {}
    for test in sets:
        if not test.listening or not hasattr(test.dataset, "scene"):
            continue
        names, owners = list(test.dataset.class_names), None
        for (run, name), preds in predictions.items():
            if name != test.name or preds.av is None:
                continue
            if owners is None:  # rendered once per test set, for every run
                owners, heard = scene_owners(test.dataset)
            peaked, beside = peak_owners(preds.av, owners, heard)
            outcome = pair_outcomes(peaked, heard, preds.ids)
            hits = peaked == heard  # (N,) the listening test's hits: the map peaks on the object heard
            labels = preds.labels.numpy()
            by_class = {names[int(c)]: (int(hits[labels == c].sum()), int((labels == c).sum()))
                        for c in np.unique(labels)}
            table.setdefault(test.name, {})[run] = {
                "pairs": len(outcome), "places": shares(rendering_places(peaked, heard, beside), PLACES),
                "outcomes": shares(outcome, OUTCOMES), "by_class": by_class}
    return table


def places_markdown(table: dict[str, dict[str, dict]]) -> str:
    """Where the renderings' maxima fell, in percent: a line per test set and run, a column per place."""
    body = [[test, method_label(run), str(2 * entry["pairs"]), *(f"{100 * entry['places'][p]:.1f}" for p in PLACES)]
            for test, runs in table.items() for run, entry in runs.items()]
    return markdown_table(["test set", "run", "renderings", *PLACES], body)


def outcomes_markdown(table: dict[str, dict[str, dict]]) -> str:
    """The pair outcomes in percent: a line per test set and run, a column per outcome."""
    body = [[test, method_label(run), str(entry["pairs"]), *(f"{100 * entry['outcomes'][o]:.1f}" for o in OUTCOMES)]
            for test, runs in table.items() for run, entry in runs.items()]
    return markdown_table(["test set", "run", "pairs", *OUTCOMES], body)


def outcome_legend() -> str:
    """What each pair outcome means, as a markdown list."""
    return "\n".join(f"* **{name}**: {_OUTCOME_HELP[name]}." for name in OUTCOMES)


@legible
def place_bars(table: dict[str, dict[str, dict]]) -> Figure:
    """Stacked bars: for each listening test a bar per run, split by where its renderings' maxima fell."""
    if not table:  # real benchmarks alone, or no listening variant among the test sets
        fig = Figure(figsize=(6.0, 1.0))
        fig.text(0.5, 0.5, "no listening test with known objects was scored", ha="center", va="center")
        return fig
    tests = list(table)
    fig = Figure(figsize=(min(MAX_WIDTH, 1.2 + 2.6 * len(tests)), 3.8), layout="constrained")
    axes = fig.subplots(1, len(tests), sharey=True, squeeze=False)[0]
    colour_of = colours(PLACES)
    for ax, test in zip(axes, tests):
        runs = list(table[test])
        bottom = np.zeros(len(runs))
        for place in PLACES:
            share = np.array([100 * table[test][run]["places"][place] for run in runs])
            ax.bar([method_label(r) for r in runs], share, bottom=bottom, color=colour_of[place], label=place)
            bottom += share
        ax.set_title(test, fontsize=9)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("renderings (%)")
    fig.legend(handles=[Patch(color=colour_of[p], label=p) for p in PLACES], loc="outside lower center", ncol=3,
               frameon=False)
    return fig


def weakest_classes(table: dict[str, dict[str, dict]], test_name: str, count: int = 5) -> dict[str, list[tuple]]:
    """``{run: [(class, hits, renderings), ...]}``: the ``count`` heard classes with the lowest
    listening rate on ``test_name`` for each run, lowest first (ties: more renderings first)."""
    found = {}
    for run, entry in table.get(test_name, {}).items():
        ranked = sorted(entry["by_class"].items(), key=lambda kv: (kv[1][0] / kv[1][1], -kv[1][1], kv[0]))
        found[run] = [(name, hits, total) for name, (hits, total) in ranked[:count]]
    return found


def weakest_markdown(table: dict[str, dict[str, dict]], test_name: str | None = None, count: int = 5) -> str:
    """``weakest_classes`` as a table: a line per run, the classes with their hits / renderings, on
    ``test_name`` (default: the table's first test set)."""
    test_name = test_name or next(iter(table), "the listening test")
    body = [[method_label(run), ", ".join(f"{name} {hits}/{total}" for name, hits, total in classes)]
            for run, classes in weakest_classes(table, test_name, count).items()]
    return markdown_table(["run", f"lowest listening rate on {test_name} (hits / renderings)"], body)


def reading(table: dict[str, dict[str, dict]]) -> str:
    """Sentences computed from ``table``: for each run on each listening test, where its misses went."""
    lines = []
    for test, runs in table.items():
        for run, entry in runs.items():
            places, outcomes = entry["places"], entry["outcomes"]
            missed = 1.0 - places["on the object heard"]
            if missed <= 0:
                lines.append(f"* {method_label(run)} on `{test}`: every rendering's maximum on the object heard.")
                continue
            where = ", ".join(f"{100 * places[p]:.1f}% {p}" for p in PLACES[1:] if places[p] > 0)
            lines.append(
                f"* {method_label(run)} on `{test}`: {100 * missed:.1f}% of {2 * entry['pairs']} renderings miss the "
                f"object heard ({where}); {100 * outcomes['same object for both sounds']:.1f}% of the pairs peak "
                f"on one object for both sounds.")
    return "\n".join(lines) if lines else "No listening test with known objects was scored."
