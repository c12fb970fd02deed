"""``data.cache_dir`` with the default data: each epoch's training scenes rendered once, read exactly."""

import pytest
import torch

from fnac_lib import training
from fnac_lib.config import apply_overrides, preset
from fnac_lib.data.default.scene_cache import EpochSceneCache, remove_scene_cache
from fnac_lib.data.factory import make_dataset, scene_cache_path
from fnac_lib.data.sample import collate
from fnac_lib.errors import CacheError


@pytest.fixture
def configs(tmp_path):
    """The CI preset on the default objects at 32 px, without and with a scene cache."""
    plain = preset("ci", **{"data.image_size": 32, "data.train_length": 32, "train.batch_size": 8,
                            "train.epochs": 2, "train.warmup_epochs": 1, "train.log_every": 2})
    return plain, apply_overrides(plain, {"data.cache_dir": str(tmp_path / "scene-cache")})


def test_cached_scenes_are_the_rendered_scenes_epoch_by_epoch(configs):
    plain_config, cached_config = configs
    plain, cached = make_dataset(plain_config, "train"), make_dataset(cached_config, "train")
    assert isinstance(cached, EpochSceneCache) and cached.directory == scene_cache_path(cached_config)
    assert cached.class_names == plain.class_names and len(cached) == len(plain)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        rendered, read = collate([plain[i] for i in range(8)]), collate(cached.__getitems__(list(range(8))))
        for key in ("image", "audio", "gt_map", "label", "on_screen"):
            assert torch.equal(rendered[key], read[key]), (epoch, key)
        assert read["id"] == rendered["id"] and read["id"][0].split("/")[4] == f"e{epoch}"
        assert all(torch.equal(a, b) for a, b in zip(rendered["boxes"], read["boxes"]))
    assert sorted(p.name for p in cached.directory.iterdir()) == ["epoch0", "epoch1"]


def test_training_on_the_scene_cache_gives_the_same_weights(configs, tmp_path):
    plain_config, cached_config = configs
    direct = training.train(plain_config, tmp_path / "direct", make_dataset(plain_config, "train"), progress=False)
    cached = training.train(cached_config, tmp_path / "cached", make_dataset(cached_config, "train"), progress=False)
    assert direct.state.history == cached.state.history
    for a, b in zip(direct.parts.model.parameters(), cached.parts.model.parameters()):
        assert torch.equal(a, b)


def test_a_second_run_reads_the_scenes_without_rendering(configs, monkeypatch):
    _, config = configs
    make_dataset(config, "train").set_epoch(0)
    manifest = scene_cache_path(config) / "epoch0" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered a scene the cache holds")

    monkeypatch.setattr("fnac_lib.data.default.datasets.render_scene", no_rendering)
    again = make_dataset(config, "train")
    again.set_epoch(0)
    assert again[3]["id"].endswith("e0/000003") and manifest.stat().st_mtime_ns == stamp


def test_other_scenes_get_another_cache_and_a_mismatch_is_refused(configs):
    _, config = configs
    path = scene_cache_path(config)
    for field, value in (("train.seed", 1), ("data.image_size", 48), ("data.labels", "coarse"),
                         ("data.dataset", "digits"), ("data.train_length", 48)):
        assert scene_cache_path(apply_overrides(config, {field: value})) != path, field
    assert scene_cache_path(apply_overrides(config, {"train.method": "ezvsl", "train.lr": 0.1})) == path

    make_dataset(config, "train").set_epoch(0)
    other = make_dataset(apply_overrides(config, {"train.seed": 1}), "train")
    other.directory = path  # the cache of seed 0 offered to seed 1's scenes
    with pytest.raises(CacheError, match="epoch0.*not from"):
        other.set_epoch(0)


def test_validation_and_test_scenes_are_not_cached(configs):
    _, config = configs
    assert not isinstance(make_dataset(config, "val"), EpochSceneCache)
    assert not isinstance(make_dataset(config, "test"), EpochSceneCache)
    with pytest.raises(ValueError, match="fixed list"):
        EpochSceneCache(make_dataset(preset("ci"), "val"), "unused", source="val")


def test_removing_a_scene_cache_deletes_every_epoch(configs):
    _, config = configs
    cached = make_dataset(config, "train")
    for epoch in (0, 1):
        cached.set_epoch(epoch)
    assert remove_scene_cache(cached.directory) and not cached.directory.exists()
    assert not remove_scene_cache(cached.directory)
