"""Audio front end, SpecAugment axes, and device-side image crops."""

import pytest
import torch

from fnac_lib.audio import AudioFrontend
from fnac_lib.augment import normalize_images, random_crop_flip, spec_augment
from fnac_lib.config import AudioConfig


def test_linear_frontend_has_the_published_shape():
    frontend = AudioFrontend(AudioConfig(sample_rate=16000, spectrogram="hann-power"))
    specs = frontend(torch.randn(2, 48000))
    assert specs.shape == (2, 1, 257, 200)


def test_per_clip_normalisation_standardises_each_clip():
    frontend = AudioFrontend(AudioConfig(sample_rate=16000, frontend="mel", hop_length=160, clip_seconds=1.0,
                                         normalize=True))
    waves = torch.randn(3, 16000) * torch.tensor([[0.01], [1.0], [10.0]])
    specs = frontend(waves)
    assert torch.allclose(specs.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(specs.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-3)


def test_unknown_frontend_is_refused():
    with pytest.raises(ValueError, match="audio.frontend: 'cqt' has no meaning"):
        AudioConfig(frontend="cqt")


def test_frequency_masks_span_all_time_and_time_masks_all_frequencies():
    specs = torch.randn(16, 1, 40, 60)
    gen = torch.Generator().manual_seed(0)
    freq_only = spec_augment(specs, freq_mask=10, time_mask=0, generator=gen, style="within", axes="own")
    changed = freq_only != specs  # (B, 1, F, T)
    # A masked frequency bin is masked at every time step, and at most 10 bins are.
    rows = changed.any(dim=3)
    assert torch.equal(rows, changed.all(dim=3))
    assert rows.sum(dim=2).max() <= 10 and rows.any()
    time_only = spec_augment(specs, freq_mask=0, time_mask=7, generator=gen, style="within", axes="own")
    changed = time_only != specs
    cols = changed.any(dim=2)
    assert torch.equal(cols, changed.all(dim=2))
    assert cols.sum(dim=2).max() <= 7 and cols.any()


def test_crop_flip_returns_crops_or_mirrored_crops_of_each_image():
    images = torch.randint(0, 256, (8, 3, 12, 14), dtype=torch.uint8)
    out = random_crop_flip(images, 10, torch.Generator().manual_seed(0))
    assert out.shape == (8, 3, 10, 10) and out.dtype == torch.uint8
    for image, crop in zip(images, out):
        candidates = [image[:, t:t + 10, l:l + 10] for t in range(3) for l in range(5)]
        assert any(torch.equal(crop, c) or torch.equal(crop, c.flip(-1)) for c in candidates)


def test_crop_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="cannot crop"):
        random_crop_flip(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 10)


def test_normalisation_uses_imagenet_statistics():
    white = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize_images(white)
    assert out[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-5)
