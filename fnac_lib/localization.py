"""Localisation maps and object-guided localisation (OGL) (README, "Protocols").

The audio-visual map of a sample is its own-pair similarity S[i, i], upsampled to the image and
min-max normalised. OGL blends it with an objectness map, the mean absolute activation over
channels of a frozen visual trunk (an ImageNet ResNet-18 in the paper).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .constants import OGL_ALPHA
from .losses import normalize_maps, own_pair_maps


# ``config.EvalConfig`` names: published test.py ``validate`` (AV and objectness maps), its
# ``validate2`` and train.py's validation (AV map), and the workbook's earlier default.
UPSAMPLING = {"bilinear-aligned": ("bilinear", True), "bicubic": ("bicubic", False), "bilinear": ("bilinear", False)}


def upsample(maps: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """(B, h, w) maps to (B, H, W): ``F.interpolate`` with one of the ``UPSAMPLING`` modes."""
    if mode not in UPSAMPLING:
        raise ValueError(f"unknown upsampling {mode!r}; choose one of {sorted(UPSAMPLING)}")
    kind, aligned = UPSAMPLING[mode]
    return F.interpolate(maps.unsqueeze(1).float(), size=size, mode=kind, align_corners=aligned).squeeze(1)


def raw_av_maps(img_maps: torch.Tensor, aud_emb: torch.Tensor, size: tuple[int, int], tau: float,
                mode: str = "bilinear") -> torch.Tensor:
    """S[i, i] = cos / tau upsampled to the image size, not normalised (open-set confidence): (B, H, W)."""
    return upsample(own_pair_maps(img_maps, aud_emb, tau), size, mode)


@torch.no_grad()
def objectness_maps(trunk: nn.Module, images: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Mean |activation| over channels of a frozen trunk, upsampled and normalised: (B, H, W)."""
    return objectness_of(trunk(images), tuple(images.shape[2:]), mode)


def objectness_of(features: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """``objectness_maps`` of trunk features (B, C, h, w) computed already, at image ``size``: (B, H, W)."""
    return normalize_maps(upsample(features.abs().mean(dim=1), size, mode))


def object_guided(av: torch.Tensor, objectness: torch.Tensor, alpha: float = OGL_ALPHA) -> torch.Tensor:
    """normalise(alpha * AV + (1 - alpha) * OBJ): the OGL map."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"OGL alpha must lie in [0, 1], got {alpha}")
    return normalize_maps(alpha * av + (1.0 - alpha) * objectness)
