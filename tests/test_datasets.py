"""Datasets of the default data return the sample interface of ``fnac_lib.sample``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fnac_lib.config import DataConfig
from fnac_lib.data.boxes import boxes_to_map
from fnac_lib.data.default import load_bank, make_default_dataset
from fnac_lib.data.sample import check_sample, collate_samples
from fnac_lib.data.default.catalogue import FEW_CLASSES
from fixtures_data import REAL_BANK, build_fixture_bank


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory) -> Path:
    return build_fixture_bank(tmp_path_factory.mktemp("datasets"))


def dataset(bank_path, **kwargs):
    kwargs.setdefault("image_size", 48)
    kwargs.setdefault("clip_seconds", 0.5)
    kwargs.setdefault("length", 12)
    return make_default_dataset(data_dir=bank_path, **kwargs)


@pytest.mark.parametrize("kind", ["objects", "digits"])
@pytest.mark.parametrize("split", ["train", "val", "test", "heard", "unheard"])
@pytest.mark.parametrize("variant", ["single", "multi", "open_set", "mask", "listening"])
def test_samples_follow_the_interface(bank_path, kind, split, variant):
    if kind == "digits" and split == "unheard":
        pytest.skip("every digit is heard in training")
    ds = dataset(bank_path, kind=kind, split=split, variant=variant)
    assert len(ds) == 12 and ds.sample_rate == 16000
    for i in range(len(ds)):
        s = check_sample(ds[i], f"{kind}/{split}/{variant}[{i}]")
        assert s["image"].shape == (3, 48, 48) and s["image"].dtype == torch.uint8
        assert s["audio"].shape == (8000,) and s["audio"].dtype == torch.float32
        assert s["gt_map"].dtype == torch.float32 and set(s["gt_map"].unique().tolist()) <= {0.0, 1.0}
        assert s["boxes"].dtype == torch.float32 and s["classes"].dtype == torch.int64
        assert 0 <= s["label"] < ds.num_classes and all(0 <= c < ds.num_classes for c in s["classes"].tolist())
        assert ("mask" in s) == (variant == "mask")
        n_boxes = {"single": 1, "mask": 1, "multi": 2, "open_set": 1 if s["on_screen"] else 0, "listening": 1}[variant]
        assert s["boxes"].shape == (n_boxes, 4)
        box_map = boxes_to_map(s["boxes"].numpy(), 48, "union", edges="round")
        if variant == "listening":  # the sounding object's own pixels, inside its box
            assert s["gt_map"].sum() > 0 and (s["gt_map"] <= box_map).all()
        else:
            torch.testing.assert_close(s["gt_map"], box_map)
        if not s["on_screen"]:
            assert s["gt_map"].sum() == 0 and s["label"] not in s["classes"].tolist()
        if "mask" in s:
            assert s["mask"].sum() > 0 and (s["mask"] <= s["gt_map"]).all()  # mask inside its box


def test_collate_and_loader_workers_agree_with_indexing(bank_path):
    ds = dataset(bank_path, kind="objects", split="train", variant="mask")
    ds.set_epoch(4)
    direct = collate_samples([ds[i] for i in range(8)])
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_samples)
    batches = list(loader)
    for key in ("image", "audio", "gt_map", "mask", "label", "on_screen"):
        torch.testing.assert_close(torch.cat([b[key] for b in batches])[:8], direct[key])
    assert [i for b in batches for i in b["id"]][:8] == direct["id"]


def test_set_epoch_changes_training_scenes_only(bank_path):
    train = dataset(bank_path, split="train")
    test = dataset(bank_path, split="test")
    before = [train[i]["id"] for i in range(4)], [test[i]["image"] for i in range(4)]
    train.set_epoch(1)
    test.set_epoch(1)
    assert [train[i]["id"] for i in range(4)] != before[0]
    for a, b in zip(before[1], (test[i]["image"] for i in range(4))):
        assert torch.equal(a, b)


def test_eval_sets_ignore_the_training_seed(bank_path):
    a, b = dataset(bank_path, split="test", seed=0), dataset(bank_path, split="test", seed=7)
    assert all(torch.equal(a[i]["image"], b[i]["image"]) for i in range(len(a)))
    c = dataset(bank_path, split="test", eval_seed=1)
    assert any(not torch.equal(a[i]["image"], c[i]["image"]) for i in range(len(a)))


def test_coarse_labels_map_fine_classes(bank_path):
    fine = dataset(bank_path, split="test", labels="fine")
    coarse = dataset(bank_path, split="test", labels="coarse")
    to_coarse = load_bank(bank_path)["class_coarse"]
    assert coarse.num_classes < fine.num_classes
    for i in range(len(fine)):
        f, c = fine[i], coarse[i]
        assert c["label"] == to_coarse[f["label"]]
        assert c["classes"].tolist() == to_coarse[f["classes"].numpy()].tolist()


def test_class_names_and_defaults(bank_path):
    objects = make_default_dataset(data_dir=bank_path)
    assert len(objects) == DataConfig().train_length and objects.image_size == 96
    assert objects.num_classes == len(objects.class_names) and "duck" in objects.class_names
    assert set(objects.sound_classes.tolist()) <= set(range(objects.num_classes))
    digits = make_default_dataset("digits", "test", data_dir=bank_path)
    assert digits.class_names == [str(d) for d in range(10)] and len(digits) == DataConfig().test_length
    assert "objects/train/single" in repr(objects)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "planes"}, "kind"), ({"split": "dev"}, "split"), ({"variant": "stereo"}, "variant"),
    ({"labels": "medium"}, "labels"), ({"kind": "digits", "labels": "coarse"}, "one label granularity"),
])
def test_bad_arguments_are_named(bank_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        dataset(bank_path, **kwargs)


def test_index_out_of_range(bank_path):
    with pytest.raises(IndexError):
        dataset(bank_path)[12]


def test_data_dir_may_be_a_folder(bank_path):
    ds = make_default_dataset(split="val", length=2, data_dir=bank_path.parent)
    assert check_sample(ds[1])


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK} (python -m fnac_lib build-data)")
@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_real_bank_datasets(kind):
    for variant in ("single", "open_set"):
        ds = make_default_dataset(kind, "test", variant, image_size=96, length=16, data_dir=REAL_BANK)
        batch = collate_samples([check_sample(ds[i]) for i in range(len(ds))])
        assert batch["image"].shape == (16, 3, 96, 96) and batch["audio"].shape == (16, 16000)
        assert np.isfinite(batch["audio"].numpy()).all()
    if kind == "objects":
        assert 60 <= len(ds.sound_classes) <= 120  # ~90 sounding fine classes
        assert 20 <= make_default_dataset(kind, "test", labels="coarse", length=1, data_dir=REAL_BANK).num_classes <= 30


def test_objects_few_is_a_dataset_of_the_run_config(bank_path):
    from fnac_lib.config import preset
    from fnac_lib.data.factory import make_dataset

    config = preset("ci", **{"data.dataset": "objects-few", "data.data_root": str(bank_path)})
    train, test = make_dataset(config, "train"), make_dataset(config, "test", length=8)
    few = {train.class_names.index(name) for name in FEW_CLASSES}
    assert {train[i]["label"] for i in range(16)} <= few and {test[i]["label"] for i in range(8)} <= few
