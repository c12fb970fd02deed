"""Where a map peaks: on the sounding object, a silent one, or the background (workbook.benchmark)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fnac_lib.data.default import make_default_dataset
from fnac_lib.evaluation import Predictions
from fnac_lib.data.test_sets import TestSet
from fnac_lib.workbook import benchmark
from fixtures_data import build_fixture_bank


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory) -> Path:
    return build_fixture_bank(tmp_path_factory.mktemp("peaks"))


def _maps_peaking_on(dataset, region: str) -> torch.Tensor:
    """(N, S, S) maps that are 1 at one pixel of ``region`` of each scene, 0 elsewhere."""
    maps = []
    for index in range(len(dataset)):
        scene = dataset.scene(index)
        owner = torch.from_numpy(scene.owner)
        sounding = torch.from_numpy(scene.masks.any(axis=0))
        where = {"sounding object": sounding, "silent object": (owner >= 0) & ~sounding, "background": owner < 0}[region]
        m = torch.zeros(owner.shape)
        if where.any():
            m.view(-1)[torch.nonzero(where.flatten())[0]] = 1.0
        maps.append(m)
    return torch.stack(maps)


def test_each_peak_is_counted_in_its_region(bank_path):
    dataset = make_default_dataset("objects", "heard", image_size=48, clip_seconds=0.25, length=8, data_dir=bank_path)
    assert benchmark.peak_regions(_maps_peaking_on(dataset, "sounding object"), dataset)["sounding object"] == 1.0
    assert benchmark.peak_regions(_maps_peaking_on(dataset, "background"), dataset)["background"] == 1.0
    shares = benchmark.peak_regions(_maps_peaking_on(dataset, "silent object"), dataset)
    assert abs(sum(shares.values()) - 1.0) < 1e-9 and shares["sounding object"] < 1.0


def test_the_table_names_runs_and_skips_data_without_objects(bank_path):
    dataset = make_default_dataset("objects", "heard", image_size=48, clip_seconds=0.25, length=4, data_dir=bank_path)
    maps = _maps_peaking_on(dataset, "sounding object")
    gt = torch.stack([dataset[i]["gt_map"] for i in range(len(dataset))])
    preds = Predictions.from_maps(maps, gt, torch.ones(len(gt), dtype=torch.bool), tau=0.03)
    test = TestSet("objects-heard", dataset, (48, 16000, 0.25))
    table = benchmark.peak_table({("fnac", "objects-heard"): preds, ("fnac", "digits"): preds}, test)
    assert list(table) == ["FNAC"] and table["FNAC"]["sounding object"] == 1.0
    assert "| FNAC | 100.0 | 0.0 | 0.0 |" in benchmark.peak_markdown(table)
    assert benchmark.peak_regions(maps, object()) is None  # a real benchmark knows no objects
