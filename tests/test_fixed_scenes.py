"""``data.train_scenes=fixed``: the same training scenes every epoch, rendered once, and their
frozen-trunk features computed once per picture (``shared_features.TrainingFeatures``)."""

import pytest
import torch
import torch.nn as nn

from fnac_lib import training
from fnac_lib.config import apply_overrides, preset
from fnac_lib.data.default.scene_cache import EpochSceneCache
from fnac_lib.data.factory import make_dataset, scene_cache_path
from fnac_lib.errors import ConfigError
from fnac_lib.shared_features import TrainingFeatures


@pytest.fixture
def fixed_config():
    """The CI preset on the default objects at 32 px with a frozen trunk, scenes fixed."""
    return preset("ci", **{"data.image_size": 32, "data.train_length": 16, "data.val_length": 8,
                           "data.train_scenes": "fixed", "train.batch_size": 8, "train.epochs": 3,
                           "train.warmup_epochs": 1, "train.log_every": 2, "model.freeze_visual": True})


def test_fixed_scenes_are_epoch_zeros_in_every_epoch_and_rendered_once(fixed_config, monkeypatch):
    fresh = make_dataset(apply_overrides(fixed_config, {"data.train_scenes": "fresh"}), "train")
    fixed = make_dataset(fixed_config, "train")
    assert "the same every epoch" in repr(fixed) and "the same every epoch" not in repr(fresh)
    first = [fresh[i] for i in range(4)]
    fresh.set_epoch(2)
    assert fresh[0]["id"].split("/")[-2] == "e2" and not torch.equal(fresh[0]["image"], first[0]["image"])

    rendered = []
    render = fixed.sample
    monkeypatch.setattr(fixed, "sample", lambda index: rendered.append(index) or render(index))
    for epoch in (0, 1, 2):
        fixed.set_epoch(epoch)
        assert fixed.scene_epoch == 0
        for i in range(4):
            sample = fixed[i]
            assert sample["id"] == first[i]["id"] and sample["id"].split("/")[-2] == "e0"
            assert torch.equal(sample["image"], first[i]["image"]) and torch.equal(sample["audio"], first[i]["audio"])
    assert rendered == [0, 1, 2, 3]  # each scene rendered once, in the first epoch


def test_only_training_scenes_of_the_default_data_can_be_fixed(fixed_config, tmp_path):
    assert make_dataset(fixed_config, "val").fixed is False  # validation and test are fixed lists already
    with pytest.raises(ValueError, match="only training scenes change with the epoch"):
        type(make_dataset(fixed_config, "train"))(make_dataset(fixed_config, "val").bank, split="val", fixed=True)
    flickr = apply_overrides(fixed_config, {"data.dataset": "flickr", "data.data_root": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"data.train_scenes: 'fixed' applies to the default data's composed "
                                          r"scenes; a real benchmark \(flickr\)"):
        make_dataset(flickr, "train")


def test_a_scene_cache_of_fixed_scenes_renders_one_epoch(fixed_config, tmp_path):
    config = apply_overrides(fixed_config, {"data.cache_dir": str(tmp_path / "scenes")})
    cached = make_dataset(config, "train")
    assert isinstance(cached, EpochSceneCache)
    assert cached.directory != scene_cache_path(apply_overrides(config, {"data.train_scenes": "fresh"}))
    ids = []
    for epoch in (0, 1, 2):
        cached.set_epoch(epoch)
        ids.append([cached[i]["id"] for i in range(3)])
    assert ids[0] == ids[1] == ids[2] and sorted(p.name for p in cached.directory.iterdir()) == ["epoch0"]


class Trunk(nn.Module):
    """A small frozen convolutional trunk (b, 3, 12, 12) -> (b, 6, 6, 6)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(pixels))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_batch_reads_the_pictures_it_knows_and_computes_the_others(layout):
    trunk, kept = Trunk().eval().requires_grad_(False), TrainingFeatures()
    pictures = torch.randn(6, 3, 12, 12).contiguous(memory_format=layout)
    first = kept.picture_features("d", trunk, pictures[:4].contiguous(memory_format=layout))
    assert torch.equal(first, trunk(pictures[:4].contiguous(memory_format=layout)))  # none kept: the whole batch
    assert (kept.hits, kept.misses, len(kept.kept)) == (0, 4, 4)

    mixed = pictures[[5, 1, 4, 3]].contiguous(memory_format=layout)  # two known pictures, two new, shuffled
    features = kept.picture_features("d", trunk, mixed)
    assert (kept.hits, kept.misses, len(kept.kept)) == (2, 6, 6)
    torch.testing.assert_close(features, trunk(mixed), rtol=1e-6, atol=1e-6)  # to rounding
    assert features.is_contiguous(memory_format=layout)

    again = pictures[[3, 0, 5]].contiguous(memory_format=layout)  # all known: read, nothing computed
    trunk.forward = lambda pixels: pytest.fail("ran the trunk on pictures it had kept")
    features = kept.picture_features("d", trunk, again)
    assert (kept.hits, kept.misses) == (5, 6) and features.is_contiguous(memory_format=layout)
    assert torch.equal(features[0], first[3]) and torch.equal(features[1], first[0])
    flipped = again.flip(-1).contiguous(memory_format=layout)  # a mirror image is another picture
    with pytest.raises(pytest.fail.Exception):
        kept.picture_features("d", trunk, flipped)


def test_a_run_on_fixed_scenes_computes_each_pictures_features_once(fixed_config, tmp_path):
    """Every later epoch reads the pictures the first ones computed (a picture and its mirror image
    at most: 2 x 16 training and 8 validation pictures), and trains what computing the trunk at
    every step trains, to rounding."""
    data = make_dataset(fixed_config, "train")
    val = make_dataset(fixed_config, "val")
    run = training.train(fixed_config, tmp_path / "kept", data, val, progress=False)
    steps = run.state.global_step
    assert isinstance(run.shared, TrainingFeatures) and run.shared.misses <= 2 * 16 + 8
    assert run.shared.hits + run.shared.misses == steps * 8 + 3 * 8  # every training and validation picture
    every_step = training.train(fixed_config, tmp_path / "every-step", data, val, progress=False,
                                shared=TrainingFeatures(max_bytes=0))  # keeps nothing: the trunk at every step
    assert every_step.shared.hits == 0
    for a, b in zip(run.state.history, every_step.state.history, strict=True):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5) for k in a)
    for a, b in zip(run.parts.model.parameters(), every_step.parts.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
