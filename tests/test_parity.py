"""The ``paper`` preset computes what the published code (FNAC_AVL @0a0ca78) computes, item by item.

Each reference is computed here with the library the published code calls (scipy's spectrogram,
torchvision's PIL transforms, ``F.interpolate``, numpy for test.py's metric loop) on the same
input, and the workbook's batched device path must equal it to float tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image

from fnac_lib.audio import AudioFrontend, periodic_tukey
from fnac_lib.augment import spec_augment
from fnac_lib.config import CHOICES, RunConfig, preset
from fnac_lib.data.benchmarks.decoding import crop_offsets, load_image, load_train_crop, short_side_size
from fnac_lib.errors import ConfigError
from fnac_lib.evaluation import Predictions, localisation_maps, score_batch
from fnac_lib.localization import upsample
from fnac_lib.metrics import summarize
from fnac_lib.model import AVModel

PAPER = preset("paper")


def published_spectrogram(wave: np.ndarray, rate: int) -> np.ndarray:
    """FNAC_AVL datasets.load_spectrogram after the waveform: scipy defaults, log(S + 1e-7), /12."""
    _, _, spec = scipy.signal.spectrogram(wave, rate, nperseg=512, noverlap=274)
    return np.log(spec + 1e-7) / 12.0


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_scipy_frontend_equals_scipy_at_the_files_own_rate(rate):
    rng = np.random.default_rng(rate)
    t = np.arange(3 * rate) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).clip(-1, 1)
    wave[: rate // 2] = 0.0  # a silent stretch: the log floor
    wave = np.round(wave * 32767) / 32767  # int16 audio as upstream reads it
    frontend = AudioFrontend(PAPER.audio)
    got = frontend(torch.from_numpy(np.stack([wave, wave[::-1].copy()])).float())  # (2, 1, F, T)
    for row, source in zip(got, (wave, wave[::-1])):
        want = published_spectrogram(source, rate)
        assert row.shape == (1, 257, (3 * rate - 274) // 238)
        np.testing.assert_allclose(row[0].double().numpy(), want, atol=5e-6, rtol=0)
    assert got.shape[-1] == {16000: 200, 22050: 276, 44100: 554}[rate]


def test_tukey_window_is_scipys_default():
    np.testing.assert_allclose(periodic_tukey(512).numpy(), scipy.signal.get_window(("tukey", 0.25), 512), atol=1e-15)


def test_native_rate_is_read_off_the_clip_length_and_mel_refuses_it():
    frontend = AudioFrontend(PAPER.audio)
    assert frontend.rate_of(torch.zeros(2, 132300)) == 44100.0
    with pytest.raises(ConfigError, match="mel"):
        AudioFrontend(preset("paper", **{"audio.frontend": "mel"}).audio)


def test_published_masks_draw_as_upstream_with_the_axes_right():
    """FrequencyMask(10) / TimeMask(10): start anywhere on the axis, width 0..9, cut at the end, 0."""
    specs = torch.randn(4000, 1, 30, 50) + 5.0  # no cell is 0 before masking
    out = spec_augment(specs, 10, 10, torch.Generator().manual_seed(0), style="published")
    masked = out == 0
    rows = masked.all(dim=3)[:, 0]  # (B, F): frequency bins masked at every frame
    cols = masked.all(dim=2)[:, 0]  # (B, T)
    assert torch.equal(masked[:, 0], rows.unsqueeze(2) | cols.unsqueeze(1))  # only whole rows and columns
    widths_f, widths_t = rows.sum(1), cols.sum(1)
    assert set(widths_t.tolist()) == set(range(10))  # 0..9 (randrange(0, 10)), never 10
    assert widths_f.max() == 9 and (widths_f == 0).float().mean() < 0.2
    first_row = torch.where(rows.any(1), rows.float().argmax(1), -1)
    assert first_row.max() == 29  # a band may start on the last bin and be cut there
    last_col = torch.where(cols.any(1), 49 - cols.flip(1).float().argmax(1), -1)
    assert last_col.max() == 49
    # Starts are uniform over the axis: about as many bands start in each half of the 50 frames.
    first_col = torch.where(cols.any(1), cols.float().argmax(1), -1)
    early, late = ((first_col >= 0) & (first_col < 25)).sum(), (first_col >= 25).sum()
    assert abs(int(early) - int(late)) < 0.15 * int(early + late)


def test_within_masks_keep_the_workbook_style():
    specs = torch.randn(500, 1, 30, 50)
    out = spec_augment(specs, 10, 0, torch.Generator().manual_seed(0), style="within")
    rows = (out != specs).all(dim=3)[:, 0]  # (B, F)
    assert rows.sum(dim=1).max() == 10  # width 0..10, inside the axis, filled with the clip's mean
    assert torch.allclose(out[:, 0][rows][:, 0], specs.mean(dim=(1, 2, 3)).repeat_interleave(rows.sum(1)))
    with pytest.raises(ValueError, match="mask style"):
        spec_augment(specs, 10, 10, style="swapped")


@pytest.mark.parametrize("size", [(320, 180), (180, 320), (500, 246)])
def test_training_frame_equals_torchvision_resize_246_and_random_crop(tmp_path, size):
    path = tmp_path / "frame.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    with Image.open(path) as image:
        resized = T.Resize(246, T.InterpolationMode.BICUBIC)(image.convert("RGB"))  # upstream's PIL transform
    assert resized.size == short_side_size(*size, 246)
    for seed in range(3):
        top, left = crop_offsets(resized.height, resized.width, 224, np.random.default_rng(seed))
        want = np.asarray(TF.crop(resized, top, left, 224, 224))  # RandomCrop at the drawn position
        got = load_train_crop(path, 246, 224, np.random.default_rng(seed))
        assert torch.equal(got, torch.from_numpy(want.copy()).permute(2, 0, 1))


def test_training_crops_are_uniform_over_every_position():
    rng = np.random.default_rng(0)
    offsets = np.array([crop_offsets(246, 437, 224, rng) for _ in range(20000)])  # a 16:9 frame after Resize(246)
    tops, lefts = np.bincount(offsets[:, 0], minlength=23), np.bincount(offsets[:, 1], minlength=214)
    assert len(tops) == 23 and len(lefts) == 214  # 0 .. 246 - 224 and 0 .. 437 - 224, nothing beyond
    assert tops.min() > 0.8 * 20000 / 23 and lefts.min() > 0.6 * 20000 / 214


def test_test_frame_equals_torchvision_resize_224_square(tmp_path):
    path = tmp_path / "frame.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (180, 320, 3), dtype=np.uint8)).save(path)
    with Image.open(path) as image:
        want = np.asarray(T.Resize((224, 224), T.InterpolationMode.BICUBIC)(image.convert("RGB")))
    assert torch.equal(load_image(path, 224), torch.from_numpy(want.copy()).permute(2, 0, 1))


@pytest.mark.parametrize("mode, kind, aligned", [("bilinear-aligned", "bilinear", True),
                                                 ("bicubic", "bicubic", False), ("bilinear", "bilinear", False)])
def test_map_upsampling_is_f_interpolate(mode, kind, aligned):
    maps = torch.randn(3, 7, 7)
    want = F.interpolate(maps.unsqueeze(1), size=(224, 224), mode=kind, align_corners=aligned)[:, 0]
    assert torch.equal(upsample(maps, (224, 224), mode), want)


def published_validate(av7: np.ndarray, obj7: np.ndarray, gts: np.ndarray, alpha: float = 0.4) -> dict:
    """test.py ``validate`` after the networks: test.py's upsampling, utils.normalize_img, the median
    threshold ``np.sort(...)[int(224 * 224 * 0.5)]``, Evaluator.cal_CIOU, finalize_AP50 / AUC."""
    def up(maps):
        return F.interpolate(torch.from_numpy(maps)[:, None], size=(224, 224), mode="bilinear",
                             align_corners=True)[:, 0].numpy()

    def normalize_img(value):
        low, high = value.min(), value.max()
        return (value - low) / (high - low) if high - low != 0 else value

    cious = {"av": [], "obj": [], "av_ogl": []}
    for av, obj, gt in zip(up(av7), up(obj7), gts):
        pred_av, pred_obj = normalize_img(av), normalize_img(obj)
        for name, pred in (("av", pred_av), ("obj", pred_obj),
                           ("av_ogl", normalize_img(pred_av * alpha + pred_obj * (1 - alpha)))):
            threshold = np.sort(pred.flatten())[int(pred.shape[0] * pred.shape[1] * 0.5)]
            infer = (pred >= threshold).astype(np.float64)
            cious[name].append(np.sum(infer * gt) / (np.sum(gt) + np.sum(infer * (gt == 0))))
    return {name: np.array(values) for name, values in cious.items()}


def test_evaluation_maps_and_scores_equal_test_py_validate():
    gen = torch.Generator().manual_seed(3)
    av7, obj7 = torch.randn(6, 7, 7, generator=gen) * 20, torch.rand(6, 7, 7, generator=gen)
    gts = torch.zeros(6, 224, 224)
    for i in range(5):
        top, left = 20 * i, 30 + 10 * i
        gts[i, top:top + 90, left:left + 100] = 1.0 if i % 2 else 0.5  # VGG-SS union / Flickr consensus
    # sample 5: an empty gt (e.g. vggss.json's M1P1xla8rg0_000000): upstream scores cIoU 0 and counts it
    want = published_validate(av7.numpy(), obj7.numpy(), gts.numpy())
    settings = PAPER.eval
    raw = upsample(av7, (224, 224), settings.av_upsample)
    objectness = localisation_maps(upsample(obj7, (224, 224), settings.objectness_upsample))["av"]
    maps = localisation_maps(raw, objectness)
    scores = score_batch(maps, raw, gts, torch.ones(6, dtype=torch.bool), count_empty_gt=True)
    for name in ("av", "obj", "av_ogl"):
        np.testing.assert_allclose(scores.ciou[name].numpy(), want[name], atol=1e-6)
    preds = Predictions.from_maps(raw, gts, torch.ones(6, dtype=torch.bool), objectness=objectness)
    assert preds.summary()["av"]["n"] == 5  # the workbook's "drop" leaves the empty gt out ...
    counted = Predictions.from_maps(raw, gts, torch.ones(6, dtype=torch.bool), objectness=objectness,
                                    count_empty_gt=True).summary()
    assert counted["av"]["n"] == 6 and want["av"][5] == 0.0  # ... the published count keeps it at 0
    for name in ("av", "obj", "av_ogl"):
        published = {"cIoU": np.mean(want[name] >= 0.5), "mean_cIoU": np.mean(want[name]),
                     "AUC": np.trapezoid([np.mean(want[name] >= 0.05 * i) for i in range(21)],
                                         [0.05 * i for i in range(21)])}
        for metric, value in published.items():
            assert counted[name][metric] == pytest.approx(value, abs=1e-6)  # float32 per-sample cIoU
    assert summarize(want["av"])["cIoU"] == counted["av"]["cIoU"]


def test_published_init_of_the_audio_net_and_projections():
    torch.manual_seed(0)
    config = preset("paper", **{"model.imagenet_weights": None})
    model = AVModel(config.model, config.audio)
    linear = model.audio.projection.weight
    assert linear.std().item() == pytest.approx(0.01, rel=0.02) and linear.abs().max() < 0.07
    conv = model.audio.trunk[4][0].conv1.weight  # (64, 64, 3, 3): fan_out = 64 * 9
    assert conv.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.03)
    proj = model.visual.projection.weight  # (512, 512, 1, 1): fan_out = 512
    assert proj.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.02)
    norms = [m for m in model.audio.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    scales = torch.cat([m.weight.detach() for m in norms])
    assert scales.mean().item() == pytest.approx(1.0, abs=0.003) and scales.std().item() == pytest.approx(0.02, rel=0.1)
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in norms)
    default = AVModel(preset("ci").model, preset("ci").audio)  # PyTorch's init stays the workbook's default
    assert default.audio.projection.weight.std().item() > 0.02


def test_paper_preset_names_the_published_value_of_every_option():
    paper = PAPER.to_dict()
    for dotted, allowed in CHOICES.items():
        section, name = dotted.split(".")
        assert paper[section][name] == allowed[0], dotted  # the first choice is the published one
    assert paper["audio"]["sample_rate"] == "native" and paper["audio"]["normalize"] is False
    assert (paper["audio"]["freq_mask"], paper["audio"]["time_mask"]) == (10, 10)
    assert paper["train"]["batch_size"] == 256 and paper["train"]["epochs"] == 30 and paper["eval"]["amp"] is False
    # Runs saved before these options existed load with the workbook's behaviour they trained with.
    old = RunConfig.from_dict({"audio": {"sample_rate": 16000}})
    assert (old.audio.spectrogram, old.audio.short_clips, old.eval.av_upsample) == ("hann-power", "pad", "bilinear")
    with pytest.raises(ConfigError, match="eval.av_upsample"):
        preset("paper", **{"eval.av_upsample": "nearest"})
    with pytest.raises(ConfigError, match="sample_rate"):
        preset("paper", **{"audio.sample_rate": "fast"})
