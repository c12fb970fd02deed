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
from fnac_lib.config import RunConfig, preset
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


class UpstreamMask:
    """FNAC_AVL datasets.py's ``FrequencyMask`` / ``TimeMask`` with ``use_mean=False``, as published:
    the start drawn with ``random.randrange(0, tensor.shape[2])`` (frequency) or ``shape[1]`` (time)
    of a (1, F, T) spectrogram, the width ``randrange(0, max_width)``, the band sliced (cut at the end)."""

    def __init__(self, axis: str, max_width: int, rng) -> None:
        self.axis, self.max_width, self.rng = axis, max_width, rng

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.axis == "frequency":
            start = self.rng.randrange(0, tensor.shape[2])  # over the time frames: upstream's defect
            tensor[:, start:start + self.rng.randrange(0, self.max_width), :] = 0
        else:
            start = self.rng.randrange(0, tensor.shape[1])  # over the frequency bins
            tensor[:, :, start:start + self.rng.randrange(0, self.max_width)] = 0
        return tensor


def mask_statistics(masked: torch.Tensor) -> dict[str, float]:
    """Of (N, 1, F, T) masked spectrograms (0 where masked): how often each mask is empty, and the
    highest frequency bin and latest frame any mask reaches."""
    rows, cols = masked[:, 0].all(dim=2), masked[:, 0].all(dim=1)  # (N, F), (N, T)
    reached = lambda band: int(torch.where(band.any(0))[0].max()) if band.any() else -1  # noqa: E731
    return {"time_empty": float((~cols.any(1)).float().mean()), "freq_empty": float((~rows.any(1)).float().mean()),
            "top_bin": reached(rows), "last_frame": reached(cols)}


def test_paper_masks_reproduce_upstreams_swapped_start_ranges():
    """At 257 x 200 (16 kHz) upstream's time masks start anywhere on 0..256 and are empty when they
    start past frame 199 (or have width 0): 0.1 + 0.9 * 57 / 257 = 30.0% of clips; its frequency
    bands start on 0..199 and never reach bin 208. The paper preset draws the same."""
    import random

    count, shape = 20000, (1, 257, 200)
    rng = random.Random(0)
    frequency, time = UpstreamMask("frequency", 10, rng), UpstreamMask("time", 10, rng)
    upstream = torch.stack([time(frequency(torch.ones(shape))) for _ in range(count)]) == 0  # (N, 1, F, T)
    audio = PAPER.audio
    ours = spec_augment(torch.ones(count, *shape), audio.freq_mask, audio.time_mask, torch.Generator().manual_seed(0),
                        audio.mask_style, audio.mask_axes) == 0
    want, got = mask_statistics(upstream), mask_statistics(ours)
    expected_empty = 0.1 + 0.9 * 57 / 257
    assert want["time_empty"] == pytest.approx(expected_empty, abs=0.01)
    assert got["time_empty"] == pytest.approx(expected_empty, abs=0.01)
    assert want["freq_empty"] == pytest.approx(0.1, abs=0.01) and got["freq_empty"] == pytest.approx(0.1, abs=0.01)
    assert want["top_bin"] == got["top_bin"] == 207 and want["last_frame"] == got["last_frame"] == 199
    fixed = spec_augment(torch.ones(count, *shape), 10, 10, torch.Generator().manual_seed(0), "published", "own") == 0
    assert mask_statistics(fixed)["time_empty"] == pytest.approx(0.1, abs=0.01)  # the axes put right
    assert mask_statistics(fixed)["top_bin"] == 256


def test_published_masks_with_their_own_axes_draw_as_upstreams_classes():
    """FrequencyMask(10) / TimeMask(10) with each start over its own axis: start anywhere on the
    axis, width 0..9, cut at the end, 0."""
    specs = torch.randn(4000, 1, 30, 50) + 5.0  # no cell is 0 before masking
    out = spec_augment(specs, 10, 10, torch.Generator().manual_seed(0), "published", "own")
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
    out = spec_augment(specs, 10, 0, torch.Generator().manual_seed(0), "within", "own")
    rows = (out != specs).all(dim=3)[:, 0]  # (B, F)
    assert rows.sum(dim=1).max() == 10  # width 0..10, inside the axis, filled with the clip's mean
    assert torch.allclose(out[:, 0][rows][:, 0], specs.mean(dim=(1, 2, 3)).repeat_interleave(rows.sum(1)))


def upstream_calculate_loss(img: torch.Tensor, aud: torch.Tensor, tau: float) -> list[torch.Tensor]:
    """FNAC_AVL model.py ``calculate_loss``, step by step: the audio and image adjacencies, the
    similarity volume, the own-pair map normalised with ``+ 1e-5`` and thresholded at 0.6 (features
    averaged over all locations), the MIL logits, and [base, FNS-audio, TNE, FNS-visual]."""
    aud_attn = aud @ aud.t() / tau
    img_avg = F.adaptive_avg_pool2d(img, 1)[:, :, 0, 0]
    img_attn = img_avg @ img_avg.t() / tau
    batch = img.shape[0]
    slogits = torch.einsum("nchw,mc->nmhw", img, aud) / tau
    loc_map = slogits[torch.arange(batch), torch.arange(batch)]
    low, high = torch.amin(loc_map, (1, 2), keepdim=True), torch.amax(loc_map, (1, 2), keepdim=True)
    loc_map = (loc_map - low) / (high - low + 1e-5)
    frg = (img * (loc_map > 0.6).unsqueeze(1)).flatten(-2, -1).mean(dim=-1)
    frg_attn = frg @ frg.t() / tau
    logits = slogits.flatten(-2, -1).max(dim=-1)[0]
    labels = torch.arange(batch)
    loss = F.cross_entropy(logits, labels) + F.cross_entropy(logits.permute(1, 0), labels)
    return [loss, F.l1_loss(torch.softmax(aud_attn, 1), torch.softmax(logits, 1)),
            F.l1_loss(torch.softmax(aud_attn, 1), torch.softmax(frg_attn, 1)),
            F.l1_loss(torch.softmax(img_attn, 1), torch.softmax(logits, 1))]


def test_paper_losses_equal_upstreams_calculate_loss_epsilon_included():
    """Every term at the paper's tau, threshold and epsilon equals upstream's; on own-pair maps whose
    range is comparable to 1e-5 the epsilon decides the foreground, and 1e-8 would not match."""
    from fnac_lib.losses import fnac_losses

    train = PAPER.train
    gen = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(6, 16, 7, 7, generator=gen, dtype=torch.float64), dim=1)
    aud = F.normalize(torch.randn(6, 16, generator=gen, dtype=torch.float64), dim=1)
    # Image 0's locations all but agree with its clip: its own-pair map spans ~4e-6, less than 1e-5.
    img[0] = F.normalize(aud[0].view(16, 1, 1) + 1e-4 * torch.randn(16, 7, 7, generator=gen, dtype=torch.float64),
                         dim=0)
    base, fns_audio, tne, fns_visual = upstream_calculate_loss(img, aud, train.tau)
    ours = fnac_losses(img, aud, train.tau, train.fg_threshold, train.fg_eps)
    for name, want in (("base", base), ("fns_audio", fns_audio), ("fns_visual", fns_visual), ("tne", tne)):
        assert ours[name].item() == pytest.approx(want.item(), rel=1e-6), name  # the losses' float32 softmaxes
    other = fnac_losses(img, aud, train.tau, train.fg_threshold, 1e-8)["tne"]
    assert abs(other.item() - tne.item()) > 1e-2  # the epsilon is part of the published computation


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
    scores = score_batch(maps, raw, gts, torch.ones(6, dtype=torch.bool), 0.03, count_empty_gt=True)
    for name in ("av", "obj", "av_ogl"):
        np.testing.assert_allclose(scores.ciou[name].numpy(), want[name], atol=1e-6)
    preds = Predictions.from_maps(raw, gts, torch.ones(6, dtype=torch.bool), tau=0.03, objectness=objectness)
    assert preds.summary()["av"]["n"] == 5  # the workbook's "drop" leaves the empty gt out ...
    counted = Predictions.from_maps(raw, gts, torch.ones(6, dtype=torch.bool), tau=0.03, objectness=objectness,
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


