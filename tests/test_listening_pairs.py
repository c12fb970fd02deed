"""How the listening test fails, pair by pair (workbook.listening): each outcome counted where it happens,
and the per-class hits adding up to the listening rate the scoring reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fnac_lib.data.default import make_default_dataset
from fnac_lib.data.test_sets import TestSet
from fnac_lib.evaluation import Predictions
from fnac_lib.scoring import LISTENING, score_predictions
from fnac_lib.workbook import listening
from fixtures_data import build_fixture_bank

PAIRS = 6


@pytest.fixture(scope="module")
def test_set(tmp_path_factory) -> TestSet:
    bank = build_fixture_bank(tmp_path_factory.mktemp("listening"))
    dataset = make_default_dataset("objects", "heard", "listening", image_size=48, clip_seconds=0.25,
                                   length=2 * PAIRS, data_dir=bank)
    return TestSet("objects-listening", dataset, (48, 16000, 0.25), protocols=("localization",), listening=True)


def _peaking(dataset, target) -> torch.Tensor:
    """(N, S, S) maps that are 1 at one pixel of the object ``target(index, scene)`` names (-1: background)."""
    maps = []
    for index in range(len(dataset)):
        scene = dataset.scene(index)
        where = torch.from_numpy(scene.owner == target(index, scene))
        m = torch.zeros(scene.owner.shape)
        m.view(-1)[torch.nonzero(where.flatten())[0]] = 1.0
        maps.append(m)
    return torch.stack(maps)


def _heard(scene) -> int:
    return int(np.unique(scene.owner[scene.masks[0]])[0])


def _other(index, scene, dataset) -> int:
    """The pair's other sounding object: the one heard in the pair's other rendering."""
    return _heard(dataset.scene(index ^ 1))


def _predictions(dataset, maps) -> Predictions:
    gt = torch.stack([dataset[i]["gt_map"] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i]["label"] for i in range(len(dataset))])
    ids = [dataset[i]["id"] for i in range(len(dataset))]
    return Predictions.from_maps(maps, gt, torch.ones(len(gt), dtype=torch.bool), tau=0.03, ids=ids, labels=labels)


def _shares(test_set, maps) -> dict[str, float]:
    table = listening.listening_table({("fnac", test_set.name): _predictions(test_set.dataset, maps)}, [test_set])
    return table[test_set.name]["fnac"]["outcomes"]


def test_each_outcome_is_counted_where_it_happens(test_set):
    dataset = test_set.dataset
    assert _shares(test_set, _peaking(dataset, lambda i, s: _heard(s)))["both heard"] == 1.0
    assert _shares(test_set, _peaking(dataset, lambda i, s: _other(i, s, dataset)))["swapped"] == 1.0
    assert _shares(test_set, _peaking(dataset, lambda i, s: -1))["elsewhere"] == 1.0
    # deaf maps: both renderings peak on the first rendering's object
    deaf = _peaking(dataset, lambda i, s: _heard(dataset.scene(i - i % 2)))
    assert _shares(test_set, deaf)["same object for both sounds"] == 1.0


def test_per_class_hits_add_up_to_the_reported_listening_rate(test_set):
    dataset = test_set.dataset
    # half the pairs heard both ways, half deaf: a listening rate of 0.75
    maps = _peaking(dataset, lambda i, s: _heard(s) if (i // 2) % 2 == 0 else _heard(dataset.scene(i - i % 2)))
    preds = _predictions(dataset, maps)
    table = listening.listening_table({("ezvsl", test_set.name): preds}, [test_set])
    entry = table[test_set.name]["ezvsl"]
    hits = sum(h for h, _ in entry["by_class"].values())
    total = sum(n for _, n in entry["by_class"].values())
    rate = next(r["value"] for r in score_predictions(preds, test_set) if r["metric"] == LISTENING and r["map"] == "av")
    assert total == 2 * PAIRS and hits / total == pytest.approx(rate) == pytest.approx(0.75)
    assert entry["outcomes"]["both heard"] == pytest.approx(0.5)
    assert entry["outcomes"]["same object for both sounds"] == pytest.approx(0.5)
    # the deaf pairs' second renderings peak on the other sounding object
    assert entry["places"]["on the object heard"] == pytest.approx(0.75)
    assert entry["places"]["on the other sounding object"] == pytest.approx(0.25)
    reading = listening.reading(table)
    assert "EZ-VSL on `objects-listening`: 25.0% of 12 renderings miss the object heard (25.0% on the other " \
           "sounding object); 50.0% of the pairs peak on one object for both sounds." in reading
    assert "| objects-listening | EZ-VSL | 6 | 50.0 | 50.0 | 0.0 | 0.0 |" in listening.outcomes_markdown(table)
    assert "| objects-listening | EZ-VSL | 12 | 75.0 | 0.0 | 25.0 | 0.0 | 0.0 |" in listening.places_markdown(table)
    weakest = listening.weakest_classes(table, test_set.name, count=2)["ezvsl"]
    assert len(weakest) <= 2 and all(h <= n for _, h, n in weakest)
    assert listening.place_bars(table).axes


def test_a_background_peak_beside_the_object_heard_is_told_from_one_far_from_it():
    owner = np.full((12, 12), -1, dtype=np.int8)
    owner[2:8, 2:8] = 0  # the object heard: a ring with a transparent middle, so its box holds background
    owner[4:6, 4:6] = -1
    owner[2:8, 9:12] = 1  # another object, to the right
    assert listening._beside(owner, 0, 4, 4)  # the hole in the ring: inside its box, nearest to it
    assert not listening._beside(owner, 0, 10, 10)  # below both: outside the box
    assert not listening._beside(owner, 1, 4, 4)  # outside object 1's box
    places = listening.rendering_places(np.array([-1, -1]), np.array([0, 1]), np.array([True, False]))
    assert [listening.PLACES[p] for p in places] == ["beside the object heard", "on the background"]


def test_renderings_out_of_pair_order_are_refused():
    peaked = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="not the two renderings of one listening pair"):
        listening.pair_outcomes(peaked, peaked, ["x/000000a", "x/000001a", "x/000000b", "x/000001b"])
    with pytest.raises(ValueError, match="pairs of renderings"):
        listening.pair_outcomes(peaked[:3], peaked[:3], ["x/000000a", "x/000000b", "x/000001a"])


def test_sets_without_listening_pairs_are_skipped(test_set):
    plain = TestSet("objects-heard", test_set.dataset, test_set.inputs)
    assert listening.listening_table({("fnac", "objects-heard"): None}, [plain]) == {}
    assert "No listening test" in listening.reading({})
    assert "no listening test" in listening.place_bars({}).texts[0].get_text()
