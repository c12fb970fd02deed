"""Checks of configuration values: each value converted to its field's type, then held to its range.

``coerce`` turns a value from the command line (``--set train.lr=1e-4``: text), a YAML or JSON
file or Python into the type the dataclass field is annotated with (``int``, ``float``, ``bool``,
``str``, ``tuple[int, ...]``, ``dict``, ``X | None``, ``bool | str``), or raises ``ConfigError``
naming the field, the value and the type expected. ``check_values`` then refuses values that have
no meaning (a contrastive batch of one pair, a non-positive size, a probability above 1), naming
the field. ``config`` runs both on every configuration it builds, before anything is read or
written.
"""

from __future__ import annotations

import math
import os
import types
import typing

import yaml

from .constants import METHODS, RESNET18_BLOCKS, RESNET18_WIDTH
from .errors import ConfigError

NULL_WORDS = ("null", "none", "~", "")
TRUE_WORDS = ("true", "yes", "on")
FALSE_WORDS = ("false", "no", "off")


def _fail(name: str, value, expected: str):
    raise ConfigError(f"{name}: expected {expected}, got {value!r}")


def _to_int(value, name: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)  # "1e3"
            except ValueError:
                _fail(name, text, "an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    _fail(name, value, "an integer")


def _to_float(value, name: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())  # "1e-4", which YAML 1.1 reads as text
        except ValueError:
            _fail(name, value, "a number")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        _fail(name, value, "a number")
    if not math.isfinite(value):
        _fail(name, value, "a finite number")
    return float(value)


def _to_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    _fail(name, value, "true or false")


def _to_str(value, name: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    _fail(name, value, "a string")


def _parsed(value, name: str):
    """A list or mapping written as text (``[1, 1, 1, 1]``, ``{id_list: a.txt}``) as Python data."""
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"{name}: cannot read {value!r} ({str(error).splitlines()[0]})") from error


def _to_sequence(value, annotation, name: str):
    """``tuple[X, ...]`` or ``list[X]`` from a list, ``[1, 2]`` or ``1,2``; each item converted to X."""
    if isinstance(value, str) and "," in value and not value.strip().startswith("["):
        value = value.split(",")  # 1,1,1,1
    value = _parsed(value, name)
    if not isinstance(value, (list, tuple)):
        _fail(name, value, describe(annotation))
    item_type = (typing.get_args(annotation) or (object,))[0]
    items = [coerce(item, item_type, f"{name}[{index}]") for index, item in enumerate(value)]
    return tuple(items) if typing.get_origin(annotation) is tuple else items


def _to_dict(value, name: str) -> dict:
    value = {} if value is None else _parsed(value, name)
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        _fail(name, value, "a mapping such as {key: value}")
    return dict(value)


CONVERTERS = {int: _to_int, float: _to_float, bool: _to_bool, str: _to_str, dict: _to_dict}


def describe(annotation) -> str:
    """How an annotation reads in a message: ``int | None`` -> ``an integer or null``."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
             type(None): "null"}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in typing.get_args(annotation))
    if typing.get_origin(annotation) in (tuple, list):
        item = describe((typing.get_args(annotation) or (object,))[0])
        return f"a list of {item.removeprefix('an ').removeprefix('a ')}s"
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    return words.get(annotation, getattr(annotation, "__name__", str(annotation)))


def coerce(value, annotation, name: str):
    """``value`` as the type ``annotation`` names; ``ConfigError`` naming ``name`` if it cannot be."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or isinstance(value, str) and value.strip().lower() in NULL_WORDS):
            return None
        for option in (a for a in args if a is not type(None)):  # in order: bool before str in ``bool | str``
            try:
                return coerce(value, option, name)
            except ConfigError:
                continue
        _fail(name, value, describe(annotation))
    if origin in (tuple, list):
        return _to_sequence(value, annotation, name)
    if origin is typing.Literal:
        if value not in args:
            _fail(name, value, describe(annotation))
        return value
    if annotation in CONVERTERS:
        return CONVERTERS[annotation](value, name)
    return value  # a type this module does not know: taken as given


def field_types(section_cls) -> dict:
    """``{field name: annotation}`` of a configuration dataclass, with the annotations resolved."""
    return typing.get_type_hints(section_cls)


# ----------------------------------------------------------------------------- meaningful values
def _at_least(low):
    return lambda v: v >= low, f">= {low}"


def _above(low):
    return lambda v: v > low, f"> {low}"


def _one_of(*choices):
    return lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices)


_SWITCH = (lambda v: isinstance(v, bool) or v == "auto", "true, false or 'auto'")

# The values each published-or-workbook pipeline option can take; the first is the published
# behaviour (the ``paper`` preset's), the others the workbook's own choices.
UPSAMPLE_MODES = ("bilinear-aligned", "bicubic", "bilinear")
CHOICES = {
    "model.init": ("published", "torch"),
    "model.visual_trunk": ("resnet18", "efficientnet_lite0"),
    "audio.spectrogram": ("scipy", "hann-power"),
    "audio.short_clips": ("tile", "pad"),
    "audio.mask_style": ("published", "within"),
    "data.train_resize": ("short-side", "square"),
    "eval.av_upsample": UPSAMPLE_MODES,
    "eval.objectness_upsample": UPSAMPLE_MODES,
    "eval.empty_gt": ("score-zero", "drop"),
}

# "section.field" -> (test, what the test asks for). Fields without an entry take any value of their type.
RULES = {
    "model.embed_dim": _at_least(1),
    "model.width": _at_least(1),
    "model.blocks": (lambda v: len(v) == 4 and min(v) >= 1, "four stages of >= 1 block each, such as [2, 2, 2, 2]"),
    "model.output_stride": _one_of(8, 16, 32),
    "model.visual_dropout": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "model.visual_stages": (lambda v: v is None or 1 <= v <= 7, "null (the whole EfficientNet-Lite0) or 1..7 stages"),
    "model.visual_taps": (lambda v: 1 <= v <= 7, "1..7 of the kept stages"),
    "audio.sample_rate": (lambda v: v == "native" or (isinstance(v, int) and v >= 1000),
                          ">= 1000 Hz, or 'native' (each file's own rate)"),
    "audio.clip_seconds": _above(0),
    "audio.frontend": _one_of("linear", "mel"),
    "audio.n_fft": _at_least(2),
    "audio.hop_length": _at_least(1),
    "audio.n_mels": _at_least(1),
    "audio.freq_mask": _at_least(0),
    "audio.time_mask": _at_least(0),
    "data.dataset": (lambda v: bool(v.strip()), "a dataset name"),
    "data.labels": _one_of("fine", "coarse"),
    "data.image_size": _at_least(16),
    "data.train_length": _at_least(1),
    "data.val_length": _at_least(1),
    "data.test_length": _at_least(1),
    "data.num_workers": _at_least(0),
    "train.method": _one_of(*METHODS),
    "train.epochs": _at_least(1),
    "train.batch_size": (lambda v: v >= 2, ">= 2: a contrastive batch needs two pairs, or every loss is 0"),
    "train.lr": _above(0),
    "train.weight_decay": _at_least(0),
    "train.warmup_epochs": _at_least(0),
    "train.term_weight": _at_least(0),
    "train.tau": _above(0),
    "train.fg_threshold": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "train.seed": (lambda v: 0 <= v < 2**32, "in [0, 2^32)"),
    "train.amp": _SWITCH,
    "train.channels_last": _SWITCH,
    "train.log_every": _at_least(1),
    "train.checkpoint_every": _at_least(0),
    "eval.amp": _SWITCH,
    **{dotted: _one_of(*allowed) for dotted, allowed in CHOICES.items()},
}


def check_values(values: dict[str, dict]) -> None:
    """Refuse, naming the field, any value of ``{section: {field: value}}`` that has no meaning."""
    for dotted, (test, wanted) in RULES.items():
        section, _, name = dotted.partition(".")
        if name in values.get(section, {}) and not test(values[section][name]):
            raise ConfigError(f"{dotted}: {values[section][name]!r} has no meaning; it must be {wanted}")
    model, audio, data = values["model"], values["audio"], values["data"]
    rate = 8000 if audio["sample_rate"] == "native" else audio["sample_rate"]  # native: the lowest common rate
    samples = round(audio["clip_seconds"] * rate)
    if samples < audio["n_fft"]:
        raise ConfigError(f"audio.clip_seconds: {audio['clip_seconds']} s at {rate} Hz is "
                          f"{samples} samples, shorter than one STFT window (audio.n_fft={audio['n_fft']})")
    if data["image_size"] <= model["output_stride"]:
        raise ConfigError(f"data.image_size: {data['image_size']} px at model.output_stride={model['output_stride']} "
                          f"leaves a 1x1 localisation map; use more than {model['output_stride']} px or a smaller "
                          "output_stride")
    full = model["width"] == RESNET18_WIDTH and tuple(model["blocks"]) == tuple(RESNET18_BLOCKS)
    if model["imagenet_weights"] is not None and not full and model.get("visual_trunk", "resnet18") == "resnet18":
        raise ConfigError(f"model.imagenet_weights: ImageNet weights exist only for the full ResNet-18 (width 64, "
                          f"blocks [2, 2, 2, 2]), not width {model['width']}, blocks {list(model['blocks'])}; "
                          "set model.imagenet_weights=null or use the full model")


def check_batch_split(batch_size: int, world_size: int) -> None:
    """The global batch must split evenly into at least two pairs per process (``torchrun``)."""
    if batch_size % world_size:
        raise ConfigError(f"train.batch_size: {batch_size} does not split evenly over {world_size} processes")
    if batch_size // world_size < 2:
        raise ConfigError(f"train.batch_size: {batch_size} over {world_size} processes leaves one pair per process; "
                          f"a contrastive batch needs two or more (use train.batch_size >= {2 * world_size})")
