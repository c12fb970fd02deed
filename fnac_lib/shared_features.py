"""Trunk features computed once per batch for every model that holds the same trunk (evaluation).

Runs trained with a frozen visual trunk keep the ImageNet weights they started from, and every run
of a notebook reads one objectness network: on a test batch their trunks compute the same
features. ``feature_keys`` names each model's features by what determines them (the trunk's layers,
their settings and weights, the autocast state, the input's memory layout); ``encode`` and ``objectness_once``
compute the features of a key once per batch, in a dict the caller empties for the next batch,
and every model reads them through ``VisualEncoder.embed``: the same operations on the same
inputs as its own forward pass, so the same numbers, bit for bit.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn as nn

from .augment import normalize_images
from .localization import objectness_maps, objectness_of
from .model import AVModel

Key = tuple[str, bool, bool]  # (weights_digest, autocast on, channels-last input)


SETTINGS = (bool, int, float, str, tuple, type(None))  # the plain attributes that shape what a layer computes


def weights_digest(module: nn.Module) -> str:
    """A hash of what a module computes: each layer's class and plain settings (strides, paddings,
    which stages a trunk taps: not all of them show in its ``repr``) and every parameter and buffer.
    Equal digests, equal functions: two slices of one network with the same weights but other
    outputs differ."""
    digest = hashlib.sha1()
    for name, layer in module.named_modules():
        settings = sorted((k, repr(v)) for k, v in vars(layer).items() if isinstance(v, SETTINGS))
        digest.update(f"{name}:{type(layer).__module__}.{type(layer).__qualname__}:{settings}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def feature_keys(model: AVModel, objectness_trunk: nn.Module | None, autocast: bool,
                 digests: dict[int, str]) -> tuple[Key, Key | None]:
    """The keys of a model's visual-trunk features and of its objectness network's (None without
    one). The objectness input is never channels-last, so the objectness of a run's own trunk
    reuses its visual features where the two inputs match. ``digests`` remembers each module's
    ``weights_digest`` by id across calls."""
    def key(trunk: nn.Module, channels_last: bool) -> Key:
        if id(trunk) not in digests:
            digests[id(trunk)] = weights_digest(trunk)
        return digests[id(trunk)], autocast, channels_last

    objectness_key = None if objectness_trunk is None else key(objectness_trunk, False)
    return key(model.visual.trunk, model.channels_last), objectness_key


def encode(model: AVModel, images: torch.Tensor, waves: torch.Tensor, computed: dict,
           key: Key | None) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 (img_maps (b, D, h, w), aud_emb (b, D)) of uint8 frames and waveforms: ``model(images,
    waves)``, or with a ``key`` the same from the visual trunk's features in ``computed`` (the first
    model of the key computes them)."""
    if key is None:
        return model(images, waves)
    if key not in computed:
        pixels = normalize_images(images)  # (b, 3, H, W), laid out as the model's own forward lays it
        if model.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        computed[key] = model.visual.trunk(pixels)  # (b, C, h, w)
    return model.visual.embed(computed[key]).float(), model.audio(model.frontend(waves)).float()


def objectness_once(trunk: nn.Module, images: torch.Tensor, mode: str, computed: dict,
                    key: Key | None) -> torch.Tensor:
    """float32 objectness maps (b, H, W) of uint8 frames (``localization.objectness_maps``); with a
    ``key``, computed once per batch for every model of the key and upsampling ``mode``."""
    if key is None:
        return objectness_maps(trunk, normalize_images(images), mode).float()
    if (key, mode) not in computed:
        if key not in computed:
            computed[key] = trunk(normalize_images(images))  # (b, C, h, w)
        computed[(key, mode)] = objectness_of(computed[key], tuple(images.shape[2:]), mode).float()
    return computed[(key, mode)]
