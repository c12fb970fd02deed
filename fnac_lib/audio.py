"""Audio front end: waveforms to spectrograms, batched on the device (README, "The library").

Upstream computes a float64 spectrogram per sample on the CPU inside the data loader
(``scipy.signal.spectrogram``); here the loader only yields waveforms and the whole batch is
transformed on the training device. ``tests/test_parity.py`` checks the ``scipy`` recipe against
scipy itself on the same waveforms.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torchaudio

from .config import AudioConfig

LOG_FLOOR = 1e-7  # published: log(S + 1e-7)
LOG_SCALE = 12.0  # published: Normalize(mean=0, std=12) after the log
TUKEY_ALPHA = 0.25  # scipy.signal.spectrogram's default window is ('tukey', 0.25)


def periodic_tukey(length: int, alpha: float = TUKEY_ALPHA) -> torch.Tensor:
    """scipy's ``get_window(('tukey', alpha), length)``: a periodic Tukey window, float64 (length,).

    The symmetric window of ``length + 1`` points without its last point: cosine tapers over the
    first and last ``alpha / 2`` of the window, ones in between.
    """
    m = length + 1
    n = torch.arange(m, dtype=torch.float64)
    width = int(math.floor(alpha * (m - 1) / 2.0))
    window = torch.ones(m, dtype=torch.float64)
    rise, fall = n[: width + 1], n[m - width - 1:]
    window[: width + 1] = 0.5 * (1 + torch.cos(math.pi * (-1 + 2.0 * rise / alpha / (m - 1))))
    window[m - width - 1:] = 0.5 * (1 + torch.cos(math.pi * (-2.0 / alpha + 1 + 2.0 * fall / alpha / (m - 1))))
    return window[:length]


def scipy_spectrogram(waves: torch.Tensor, sample_rate: float, n_fft: int, hop_length: int,
                      window: torch.Tensor) -> torch.Tensor:
    """``scipy.signal.spectrogram(x, fs, window, nperseg=n_fft, noverlap=n_fft - hop_length)`` of a
    (B, T) batch with scipy's defaults: each segment's mean removed (``detrend='constant'``),
    windowed, one-sided power spectral density (|X|^2 / (fs * sum(w^2)), the bins between DC and
    Nyquist doubled). Returns (B, n_fft // 2 + 1, frames)."""
    frames = waves.unfold(-1, n_fft, hop_length)  # (B, frames, n_fft)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    spectrum = torch.fft.rfft(frames * window, dim=-1)  # (B, frames, F)
    power = spectrum.real.square() + spectrum.imag.square()
    scale = torch.full((power.shape[-1],), 1.0 / (sample_rate * float(window.double().square().sum())),
                       dtype=power.dtype, device=power.device)  # (F,)
    scale[1: power.shape[-1] - (1 if n_fft % 2 == 0 else 0)] *= 2.0  # one-sided: interior bins count twice
    return (power * scale).transpose(1, 2)  # (B, F, frames)


class AudioFrontend(nn.Module):
    """(B, T) waveforms to (B, 1, F, frames) spectrograms.

    ``linear`` is the log-power linear spectrogram of the published code, log(S + 1e-7) / 12, 257
    bins for a 512-sample window and hop 238; ``spectrogram`` chooses S: ``scipy`` is exactly the
    published ``scipy.signal.spectrogram`` (Tukey(0.25) window, mean removed per segment, power
    density), ``hann-power`` the workbook's earlier Hann-window |STFT|^2 (same shape, other values).
    ``mel`` is a log-mel spectrogram from torchaudio, smaller and faster. With ``normalize`` each clip
    is standardised, which keeps zero-padded short clips from collapsing the audio branch (upstream
    does not). With ``sample_rate="native"`` a clip's rate is its length / ``clip_seconds``: every
    clip is exactly that long, and the power density depends on the rate.
    """

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config
        if config.frontend == "linear" and config.spectrogram == "scipy":
            self.transform = None
            self.register_buffer("window", periodic_tukey(config.n_fft).float(), persistent=False)
        elif config.frontend == "linear":
            self.transform = torchaudio.transforms.Spectrogram(
                n_fft=config.n_fft, hop_length=config.hop_length, power=2.0, center=False
            )
        else:  # mel: AudioConfig.check refuses it at a native rate (a filter bank is built for one rate)
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                n_mels=config.n_mels, power=2.0,
            )

    @property
    def num_samples(self) -> int:
        """Samples per clip; with a native rate, those of a 16 kHz clip (the unit tests' rate)."""
        rate = 16000 if self.config.sample_rate == "native" else self.config.sample_rate
        return int(round(rate * self.config.clip_seconds))

    def rate_of(self, waves: torch.Tensor) -> float:
        """The sample rate of (B, T) clips: the configured one, or T / clip_seconds when native."""
        if self.config.sample_rate == "native":
            return float(round(waves.shape[-1] / self.config.clip_seconds))
        return float(self.config.sample_rate)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        if waves.ndim != 2:
            raise ValueError(f"waveforms must be (B, T), got shape {tuple(waves.shape)}")
        # The STFT stays in float32 under autocast: bf16 power spectra lose the quiet bins.
        with torch.autocast(device_type=waves.device.type, enabled=False):
            waves = waves.float()
            if self.transform is None:
                power = scipy_spectrogram(waves, self.rate_of(waves), self.config.n_fft, self.config.hop_length,
                                          self.window)  # (B, F, frames)
            else:
                power = self.transform(waves)  # (B, F, frames)
            if self.config.frontend == "linear":
                spec = torch.log(power + LOG_FLOOR) / LOG_SCALE
            else:
                spec = torch.log(power + 1e-6)
            if self.config.normalize:
                mean = spec.mean(dim=(1, 2), keepdim=True)
                std = spec.std(dim=(1, 2), keepdim=True)
                spec = (spec - mean) / (std + 1e-5)
        return spec.unsqueeze(1)  # (B, 1, F, frames)
