"""Audio front end: waveforms to spectrograms, batched on the device (README, "The library").

Upstream computes a float64 spectrogram per sample on the CPU inside the data loader; here the
loader only yields waveforms and the whole batch is transformed on the training device.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchaudio

from .config import AudioConfig


class AudioFrontend(nn.Module):
    """(B, T) waveforms to (B, 1, F, frames) spectrograms.

    ``linear`` is the published log-power linear spectrogram: a 512-sample Hann window, hop 238,
    257 bins, log(power + 1e-7) / 12 (upstream uses scipy's default Tukey window; the shape of the
    input is the same). ``mel`` is a log-mel spectrogram from torchaudio, smaller and faster.
    With ``normalize`` each clip is standardised, which keeps zero-padded short clips from
    collapsing the audio branch.
    """

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config
        if config.frontend == "linear":
            self.transform = torchaudio.transforms.Spectrogram(
                n_fft=config.n_fft, hop_length=config.hop_length, power=2.0, center=False
            )
        elif config.frontend == "mel":
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                n_mels=config.n_mels, power=2.0,
            )
        else:
            raise ValueError(f"unknown audio frontend {config.frontend!r}; choose 'linear' or 'mel'")

    @property
    def num_samples(self) -> int:
        return int(round(self.config.sample_rate * self.config.clip_seconds))

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        if waves.ndim != 2:
            raise ValueError(f"waveforms must be (B, T), got shape {tuple(waves.shape)}")
        # The STFT stays in float32 under autocast: bf16 power spectra lose the quiet bins.
        with torch.autocast(device_type=waves.device.type, enabled=False):
            power = self.transform(waves.float())  # (B, F, frames)
            if self.config.frontend == "linear":
                spec = torch.log(power + 1e-7) / 12.0
            else:
                spec = torch.log(power + 1e-6)
            if self.config.normalize:
                mean = spec.mean(dim=(1, 2), keepdim=True)
                std = spec.std(dim=(1, 2), keepdim=True)
                spec = (spec - mean) / (std + 1e-5)
        return spec.unsqueeze(1)  # (B, 1, F, frames)

