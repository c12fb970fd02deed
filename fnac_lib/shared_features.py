"""Trunk features computed once per batch for every model that holds the same trunk (evaluation),
and once per training batch for every run of one seed (``TrainingFeatures``).

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
        computed[key] = model.visual.trunk(model.pixels(images))  # (b, C, h, w), laid out as its forward
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


TRAINING_FEATURES_BYTES = 2 << 30  # at most 2 GiB of kept features (a study's group: ~0.4 GiB)


class TrainingFeatures:
    """Frozen-trunk features of training (and validation) batches, computed by the first run of a
    group and read by the next ones; with fixed training scenes (``data.train_scenes=fixed``), kept
    per picture and read in every later epoch too.

    Runs of one seed on one data set see the same scenes, and the same crops and flips (their
    augmentation generator is seeded by the run seed alone), so a frozen visual trunk gets the same
    pixels at every step of each. The features of a batch are kept under its trunk's
    ``weights_digest``, the autocast state and a digest of the pixels (values, shape, layout); a
    later run whose batch has the same key reads them instead of running the trunk: the same
    operations on the same inputs, so the same numbers, bit for bit.

    Fixed scenes come back every epoch in other batches, so there (``per_picture``) each picture's
    features are kept under a digest of its own pixels: a batch whose pictures are all kept reads
    them, one that shows new pictures runs the trunk on those alone. A picture's features then come
    from the first batch that showed it: the same numbers to rounding (a convolution's rounding
    may depend on the batch size), and the runs of a group read the very same ones.

    CPU only (the digest reads the pixels on the host, which on a GPU would sync every step); at
    most ``max_bytes`` are kept.
    """

    def __init__(self, max_bytes: int = TRAINING_FEATURES_BYTES) -> None:
        self.max_bytes, self.kept_bytes = max_bytes, 0
        self.kept: dict[tuple, torch.Tensor] = {}  # a batch's features (b, C, h, w), or a picture's (C, h, w)
        self.hits = self.misses = 0  # batches (or pictures, per_picture) read / computed

    def attach(self, model: AVModel, device: torch.device, single_process: bool = True,
               compiled: bool = False, per_picture: bool = False) -> bool:
        """Serve ``model``'s frozen trunk from here, by batch or ``per_picture``; False (nothing done)
        where sharing cannot hold: a trained trunk, a GPU, several processes, a compiled model (the
        digest would break its graph)."""
        visual = model.visual
        if not visual.frozen or torch.device(device).type != "cpu" or not single_process or compiled:
            return False
        digest = weights_digest(visual.trunk)  # the trunk's weights never change: frozen
        read = self.picture_features if per_picture else self.features
        visual.trunk_features = lambda pixels: read(digest, visual.trunk, pixels)
        return True

    def features(self, digest: str, trunk: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        """``trunk(pixels)`` (b, C, h, w), computed once per key."""
        contents = hashlib.sha1(pixels.detach().numpy().tobytes()).hexdigest()  # C order whatever the layout
        key = (*self.setting(digest, pixels), tuple(pixels.shape), contents)
        if key in self.kept:
            self.hits += 1
            return self.kept[key]
        self.misses += 1
        features = trunk(pixels)
        self.keep(key, features)
        return features

    def picture_features(self, digest: str, trunk: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        """``trunk(pixels)`` (b, C, h, w), each picture's features computed once per key, in the
        batch's layout."""
        layout = torch.channels_last if pixels.is_contiguous(memory_format=torch.channels_last) else \
            torch.contiguous_format
        setting = (*self.setting(digest, pixels), tuple(pixels.shape[1:]))
        keys = [(*setting, hashlib.sha1(picture.tobytes()).hexdigest())  # each picture in C order
                for picture in pixels.detach().numpy()]
        new = [i for i, key in enumerate(keys) if key not in self.kept]
        self.hits += len(keys) - len(new)
        self.misses += len(new)
        if len(new) == len(keys):
            computed = features = trunk(pixels)  # (b, C, h, w)
        else:
            computed = trunk(pixels[new].contiguous(memory_format=layout)) if new else []  # (n, C, h, w)
            fresh = dict(zip(new, computed))
            features = torch.stack([fresh[i] if i in fresh else self.kept[key] for i, key in enumerate(keys)])
            features = features.contiguous(memory_format=layout)  # (b, C, h, w)
        for j, i in enumerate(new):
            self.keep(keys[i], computed[j])
        return features

    @staticmethod
    def setting(digest: str, pixels: torch.Tensor) -> tuple:
        """What besides the pixels' values shapes the features: the trunk, autocast, dtype, layout."""
        return (digest, torch.is_autocast_enabled("cpu"), pixels.dtype,
                pixels.is_contiguous(memory_format=torch.channels_last))

    def keep(self, key: tuple, features: torch.Tensor) -> None:
        size = features.numel() * features.element_size()
        if self.kept_bytes + size <= self.max_bytes:
            self.kept[key], self.kept_bytes = features, self.kept_bytes + size

    def clear(self) -> None:
        """Forget every kept batch or picture (the group's last run is done)."""
        self.kept.clear()
        self.kept_bytes = 0
