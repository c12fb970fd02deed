"""Shared fixtures: a small deterministic audio-visual dataset for the training-mechanics tests.

``ToneSquares`` pictures a coloured square whose colour follows the class and plays a tone
whose pitch follows the class: enough structure to learn, built in microseconds, so resume and
distributed tests exercise the real training loop without the embedded default data.
"""

from __future__ import annotations

import math

import pytest
import torch

from fnac_lib.config import preset


class ToneSquares(torch.utils.data.Dataset):
    def __init__(self, length: int = 64, image_size: int = 32, num_classes: int = 4, sample_rate: int = 16000,
                 clip_seconds: float = 1.0, seed: int = 0) -> None:
        self.length, self.image_size, self.num_classes = length, image_size, num_classes
        self.sample_rate, self.num_samples, self.seed = sample_rate, int(sample_rate * clip_seconds), seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + index)
        label = index % self.num_classes
        size = self.image_size
        image = (torch.rand(3, size, size, generator=gen) * 60).to(torch.uint8)
        side = size // 3
        top, left = torch.randint(0, size - side, (2,), generator=gen).tolist()
        colour = torch.tensor([(label * 97) % 256, (label * 53 + 80) % 256, (255 - label * 40) % 256], dtype=torch.uint8)
        image[:, top:top + side, left:left + side] = colour.view(3, 1, 1)
        gt = torch.zeros(size, size)
        gt[top:top + side, left:left + side] = 1.0
        t = torch.arange(self.num_samples) / self.sample_rate
        audio = 0.5 * torch.sin(2 * math.pi * (300 + 250 * label) * t) + 0.05 * torch.randn(self.num_samples, generator=gen)
        box = torch.tensor([[left, top, left + side, top + side]], dtype=torch.float32) / size
        return {"image": image, "audio": audio.float(), "gt_map": gt, "boxes": box,
                "classes": torch.tensor([label]), "label": label, "on_screen": True, "id": f"tone-{index}"}


@pytest.fixture
def tone_squares():
    return ToneSquares


@pytest.fixture
def ci_config():
    """The CI preset, on the tone-squares images (32 px)."""
    return preset("ci", **{"data.image_size": 32, "train.batch_size": 8, "train.log_every": 2})


@pytest.fixture
def assert_legible():
    """Check a workbook figure as a student sees it: within ``common.MAX_WIDTH`` inches (shown
    unscaled at 100 px per inch) and no visible text under 8 pt (11 px)."""
    from matplotlib.text import Text

    from fnac_lib.workbook.common import MAX_WIDTH

    def check(fig) -> None:
        fig.draw_without_rendering()  # lays the figure out as saving it would
        assert fig.get_figwidth() <= MAX_WIDTH + 1e-9, fig.get_figwidth()
        small = {t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text() and t.get_fontsize() < 8}
        assert small == set(), small

    return check
