"""Configuration presets and files, localisation maps, OGL and batched evaluation."""

import pytest
import torch

from fnac_lib.config import RunConfig, apply_overrides, preset
from fnac_lib.evaluation import evaluate
from fnac_lib.localization import object_guided, objectness_maps, raw_av_maps
from fnac_lib.losses import OBJECTIVES, normalize_maps
from fnac_lib.model import AVModel


def test_paper_preset_carries_the_published_values():
    config = preset("paper")
    assert (config.train.lr, config.train.weight_decay, config.train.tau) == (1e-4, 1e-4, 0.03)
    assert (config.train.epochs, config.train.warmup_epochs, config.train.batch_size) == (30, 5, 256)
    assert config.model.visual_dropout == 0.9 and config.data.image_size == 224
    assert config.train.term_weight == 100 and OBJECTIVES[config.train.method].terms == ("fns_audio", "fns_visual", "tne")


def test_single_term_methods_switch_off_the_others():
    train = preset("paper", **{"train.method": "fns_visual"}).train
    assert OBJECTIVES[train.method].terms == ("fns_visual",)


def test_config_round_trips_through_a_file(tmp_path):
    config = preset("cpu-demo", **{"train.method": "tne"})
    config.save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json") == config


@pytest.mark.parametrize("overrides, message", [
    ({"train.nope": 1}, "unknown config field 'train.nope'"),
    ({"optim.lr": 1}, "unknown config field 'optim.lr'"),
])
def test_unknown_fields_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(preset("ci"), overrides)


def test_unknown_method_and_preset_are_refused():
    with pytest.raises(ValueError, match="train.method: 'simclr' has no meaning; it must be one of 'ezvsl'"):
        preset("ci", **{"train.method": "simclr"})
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_a_broken_config_file_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json: not a readable run config"):
        RunConfig.load(path)


def test_av_maps_are_normalised_at_the_image_size():
    img = torch.nn.functional.normalize(torch.randn(3, 8, 4, 4), dim=1)
    aud = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    maps = normalize_maps(raw_av_maps(img, aud, (32, 32), 0.03))
    assert maps.shape == (3, 32, 32)
    assert torch.allclose(maps.amin(dim=(1, 2)), torch.zeros(3)) and torch.allclose(maps.amax(dim=(1, 2)), torch.ones(3), atol=1e-6)


def test_object_guided_blend_and_its_limits():
    av = torch.zeros(1, 2, 2)
    av[0, 0, 0] = 1.0
    obj = torch.zeros(1, 2, 2)
    obj[0, 1, 1] = 1.0
    blended = object_guided(av, obj, alpha=0.4)
    assert blended[0, 1, 1] == pytest.approx(1.0) and blended[0, 0, 0] == pytest.approx(0.4 / 0.6, rel=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        object_guided(av, obj, alpha=1.5)


def test_objectness_is_the_mean_absolute_activation():
    trunk = torch.nn.Conv2d(3, 2, kernel_size=1, bias=False)
    with torch.no_grad():
        trunk.weight.copy_(torch.tensor([[1.0, 0, 0], [0, -1.0, 0]]).view(2, 3, 1, 1))
    images = torch.zeros(1, 3, 2, 2)
    images[0, 1, 0, 1] = -4.0  # only channel 2's |activation| is large there
    maps = objectness_maps(trunk, images)
    assert maps[0, 0, 1] == pytest.approx(1.0) and maps[0, 1, 0] == pytest.approx(0.0)


def test_evaluate_scores_av_objectness_and_ogl_in_batches(tone_squares, ci_config):
    torch.manual_seed(0)
    model = AVModel(ci_config.model, ci_config.audio)
    scores, preds = evaluate(model, tone_squares(20), tau=0.03, batch_size=8, objectness_trunk=model.visual.trunk)
    assert set(scores) == {"av", "obj", "av_ogl"}
    assert scores["av"]["n"] == 20 and preds.av.shape == (20, 32, 32) and len(preds.ids) == 20
    assert 0.0 <= scores["av_ogl"]["AUC"] <= 1.0
