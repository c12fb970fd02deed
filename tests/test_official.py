"""Official FNAC / EZ-VSL / SLAVC checkpoints import into workbook runs that compute the same features.

The checkpoint is built here in the official layout (FNAC_AVL ``model.py``: ``imgnet``, ``img_proj``,
``audnet``, ``aud_proj``; DDP's ``module.`` prefix; saved as ``{'model', 'optimizer', 'epoch',
'best_cIoU', 'best_Auc'}`` with numpy scalars) from random weights, and the imported model's features
are compared with a forward pass written here from the raw tensors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet18

from fnac_lib.augment import normalize_images
from fnac_lib.cli import main
from fnac_lib.config import RunConfig, preset
from fnac_lib.errors import CheckpointError
from fnac_lib.official import import_official
from fnac_lib.runs import checkpoint_path, is_finished, load_model
from fnac_lib.training import train
from fixtures_benchmarks import FLICKR_IDS, make_flickr_root


def official_state(dim: int = 512, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the official module's layout (244 tensors), random weights and statistics."""
    torch.manual_seed(seed)
    imgnet, audnet = resnet18(), resnet18()
    imgnet.avgpool, imgnet.fc = nn.Identity(), nn.Identity()
    audnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    audnet.avgpool, audnet.fc = nn.AdaptiveMaxPool2d(1), nn.Identity()
    module = nn.ModuleDict({"imgnet": imgnet, "img_proj": nn.Conv2d(512, dim, 1), "audnet": audnet,
                            "aud_proj": nn.Linear(512, dim)})
    state = module.state_dict()
    gen = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        noise = torch.randn(value.shape, generator=gen) if value.is_floating_point() else None
        if key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif key.endswith(("running_mean", "bias")):
            state[key] = 0.1 * noise
        elif key.endswith("weight") and value.ndim == 1:  # batch-norm scales
            state[key] = 1.0 + 0.1 * noise
        elif value.is_floating_point():
            state[key] = value + 0.01 * noise
    return state


def save_official(path, state, prefix: str = "module.") -> None:
    torch.save({"model": {prefix + k: v for k, v in state.items()}, "optimizer": {"state": {}, "param_groups": []},
                "epoch": 20, "best_cIoU": np.float64(0.3929), "best_Auc": np.float64(0.3966)}, path)


def reference_trunk(x: torch.Tensor, s: dict, p: str) -> torch.Tensor:
    """A ResNet-18 trunk (stem, four stages of two basic blocks) from raw tensors, in eval mode."""
    def bn(y, name):
        return F.batch_norm(y, s[f"{name}.running_mean"], s[f"{name}.running_var"], s[f"{name}.weight"],
                            s[f"{name}.bias"], training=False, eps=1e-5)

    x = F.relu(bn(F.conv2d(x, s[f"{p}.conv1.weight"], stride=2, padding=3), f"{p}.bn1"))
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    for stage, stride in zip(range(1, 5), (1, 2, 2, 2)):
        for block in range(2):
            b, step = f"{p}.layer{stage}.{block}", stride if block == 0 else 1
            out = F.relu(bn(F.conv2d(x, s[f"{b}.conv1.weight"], stride=step, padding=1), f"{b}.bn1"))
            out = bn(F.conv2d(out, s[f"{b}.conv2.weight"], padding=1), f"{b}.bn2")
            if f"{b}.downsample.0.weight" in s:
                x = bn(F.conv2d(x, s[f"{b}.downsample.0.weight"], stride=step), f"{b}.downsample.1")
            x = F.relu(out + x)
    return x


def reference_features(s: dict, images: torch.Tensor, waves: np.ndarray, rate: int):
    """The official forward (eval mode) of uint8 frames and waveforms, with scipy's spectrogram."""
    v = reference_trunk(normalize_images(images), s, "imgnet")  # (B, 512, 7, 7)
    v = F.normalize(F.conv2d(v, s["img_proj.weight"], s["img_proj.bias"]), dim=1)
    specs = [np.log(scipy.signal.spectrogram(w, rate, nperseg=512, noverlap=274)[2] + 1e-7) / 12 for w in waves]
    a = reference_trunk(torch.from_numpy(np.stack(specs)).float().unsqueeze(1), s, "audnet").amax(dim=(2, 3))
    return v, F.normalize(F.linear(a, s["aud_proj.weight"], s["aud_proj.bias"]), dim=1)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("official")
    state = official_state()
    save_official(tmp / "best.pth", state)
    run = tmp / "run"
    assert main(["import-checkpoint", str(tmp / "best.pth"), "--run-dir", str(run)]) == 0
    return state, run


def test_official_layout_has_the_published_tensor_count():
    assert len(official_state()) == 244


def test_imported_model_computes_the_official_features(imported):
    state, run = imported
    model, config = load_model(checkpoint_path(run, "best"))
    assert config.audio.sample_rate == "native" and config.model.init == "published"  # scored as published
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8, generator=gen)
    waves = (0.2 * torch.randn(2, 3 * 22050, generator=gen, dtype=torch.float64)).clamp(-1, 1).numpy()
    with torch.no_grad():
        img_maps, aud_emb = model(images, torch.from_numpy(waves).float())
        want_v, want_a = reference_features(state, images, waves, 22050)
    assert img_maps.shape == (2, 512, 7, 7)
    torch.testing.assert_close(img_maps, want_v, atol=2e-4, rtol=0)
    torch.testing.assert_close(aud_emb, want_a, atol=2e-4, rtol=0)


def test_imported_run_is_finished_and_records_its_source(imported, tone_squares):
    _, run = imported
    assert is_finished(run)
    saved = torch.load(run / "last.pt", weights_only=False)
    assert saved["imported_from"]["best_cIoU"] == pytest.approx(0.3929) and saved["imported_from"]["epoch"] == 20
    config = RunConfig.load(run / "config.json")
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        train(config, run, tone_squares(length=256, image_size=224), resume=True, progress=False)


def test_imported_run_evaluates_on_a_benchmark(imported, tmp_path):
    _, run = imported
    root = make_flickr_root(tmp_path / "flickr", rate=44100)
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--run-dir", str(run), "--benchmark", "flickr", "--data-root", str(root),
                 "--reader-option", "test_list=flickr_test.csv", "--set", "data.num_workers=0",
                 "--batch-size", "4", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["scores"]["av"]["n"] == len(FLICKR_IDS)
    assert result["eval"]["av_upsample"] == "bilinear-aligned"


@pytest.mark.parametrize("prefix", ["", "module."])
def test_plain_and_ddp_state_dicts_import(tmp_path, prefix):
    state = official_state(dim=128, seed=2)
    torch.save({prefix + k: v for k, v in state.items()}, tmp_path / "plain.pth")
    main(["import-checkpoint", str(tmp_path / "plain.pth"), "--run-dir", str(tmp_path / "run"), "--method", "ezvsl"])
    model, config = load_model(checkpoint_path(tmp_path / "run", "best"))
    assert config.model.embed_dim == 128 and config.train.method == "ezvsl"
    assert torch.equal(model.audio.projection.weight, state["aud_proj.weight"])


def test_checkpoints_that_do_not_fit_are_refused_by_name(tmp_path):
    def attempt(name):
        import_official(tmp_path / name, tmp_path / name.replace(".pth", ""), preset("paper"))

    state = official_state()
    torch.save({"resnet.conv1.weight": torch.zeros(3)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="foreign.pth: not an FNAC"):
        attempt("foreign.pth")
    save_official(tmp_path / "partial.pth", {k: v for k, v in state.items() if not k.startswith("audnet.layer4")})
    with pytest.raises(CheckpointError, match=r"partial.pth: does not fit .* weights missing"):
        attempt("partial.pth")
    state["audnet.conv1.weight"] = torch.zeros(64, 3, 7, 7)  # a 3-channel audio stem
    save_official(tmp_path / "shape.pth", state)
    with pytest.raises(CheckpointError, match=r"shape.pth: audnet.conv1.weight has shape \(64, 3, 7, 7\)"):
        attempt("shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable"):
        attempt("junk.pth")


def test_numpy_1_pickles_of_the_best_scores_load(tmp_path, monkeypatch):
    """Released checkpoints were pickled with numpy 1.x, whose scalars live in numpy.core."""
    scalar = np._core.multiarray.scalar
    monkeypatch.setattr(scalar, "__module__", "numpy.core.multiarray")
    save_official(tmp_path / "old.pth", official_state(dim=64))
    monkeypatch.undo()
    main(["import-checkpoint", str(tmp_path / "old.pth"), "--run-dir", str(tmp_path / "run")])
    assert is_finished(tmp_path / "run")
