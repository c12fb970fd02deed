"""How a setting's type is read: values converted to a field's annotated type and held to its range.

A configuration field says everything about its values in its annotation: ``int``, ``float``,
``bool``, ``str``, ``tuple[int, ...]``, ``dict``, ``X | None``, ``Literal[...]`` for a choice, and
``Annotated[X, Range(low, high)]`` (or ``Check``) for the values that mean something. ``coerce``
turns a value from the command line (``--set train.lr=1e-4``: text), a YAML or JSON file or Python
into that type and checks it, raising ``ConfigError`` that names the field, the value and what it
must be. ``config`` calls it on every field of every configuration it builds.
"""

from __future__ import annotations

import math
import os
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Callable, Literal

import yaml

from .errors import ConfigError

NULL_WORDS = ("null", "none", "~", "")
TRUE_WORDS = ("true", "yes", "on")
FALSE_WORDS = ("false", "no", "off")


@dataclass(frozen=True)
class Check:
    """A test of a converted value, and what a passing value is, for the refusal's message."""

    test: Callable[[object], bool]
    wanted: str

    def holds(self, value) -> bool:
        return bool(self.test(value))


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class Range(Check):
    """``low <= value <= high`` (either end open or absent): ``Annotated[int, Range(1, 1000)]``."""

    def __init__(self, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False, why: str = "") -> None:
        def test(value) -> bool:
            above = low is None or (value > low if low_open else value >= low)
            below = high is None or (value < high if high_open else value <= high)
            return above and below

        if low is not None and high is not None:
            wanted = f"in {'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
        elif low is not None:
            wanted = f"{'>' if low_open else '>='} {_number(low)}"
        else:
            wanted = f"{'<' if high_open else '<='} {_number(high)}"
        super().__init__(test, wanted + (f": {why}" if why else ""))


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


def _to_choice(value, choices: tuple, name: str):
    """One of a ``Literal``'s values; text from the command line matches by what it reads as
    (``--set model.output_stride=16`` is the number 16)."""
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
        if isinstance(value, str) and not isinstance(choice, str):
            try:
                if CONVERTERS[type(choice)](value, name) == choice:
                    return choice
            except ConfigError:
                continue
    raise ConfigError(f"{name}: {value!r} has no meaning; it must be {describe(Literal[choices])}")


CONVERTERS = {int: _to_int, float: _to_float, bool: _to_bool, str: _to_str, dict: _to_dict}


def describe(annotation) -> str:
    """How an annotation reads in a message: ``int | None`` -> ``an integer or null``."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
             type(None): "null"}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        checks = [a.wanted for a in args[1:] if isinstance(a, Check)]
        return " ".join([describe(args[0]), *checks])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin in (tuple, list):
        item = describe((args or (object,))[0])
        return f"a list of {item.removeprefix('an ').removeprefix('a ')}s"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    return words.get(annotation, getattr(annotation, "__name__", str(annotation)))


def coerce(value, annotation, name: str):
    """``value`` as the type ``annotation`` names, checked against its ``Check`` annotations;
    ``ConfigError`` naming ``name`` if it cannot be."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        value = coerce(value, args[0], name)
        for check in (a for a in args[1:] if isinstance(a, Check)):
            if not check.holds(value):
                raise ConfigError(f"{name}: {value!r} has no meaning; it must be {check.wanted}")
        return value
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or isinstance(value, str) and value.strip().lower() in NULL_WORDS):
            return None
        meaningless = False
        for option in (a for a in args if a is not type(None)):  # in order: bool before a Literal string
            try:
                return coerce(value, option, name)
            except ConfigError as error:
                meaningless |= "has no meaning" in str(error)
        if meaningless:  # a value of the right kind, out of range or not a choice
            raise ConfigError(f"{name}: {value!r} has no meaning; it must be {describe(annotation)}")
        _fail(name, value, describe(annotation))
    if origin in (tuple, list):
        return _to_sequence(value, annotation, name)
    if origin is Literal:
        return _to_choice(value, args, name)
    if annotation in CONVERTERS:
        return CONVERTERS[annotation](value, name)
    return value  # a type this module does not know: taken as given


def field_types(section_cls) -> dict:
    """``{field name: annotation}`` of a configuration dataclass, ``Annotated`` ranges kept."""
    return typing.get_type_hints(section_cls, include_extras=True)


def check_batch_split(batch_size: int, world_size: int) -> None:
    """The global batch must split evenly into at least two pairs per process (``torchrun``)."""
    if batch_size % world_size:
        raise ConfigError(f"train.batch_size: {batch_size} does not split evenly over {world_size} processes")
    if batch_size // world_size < 2:
        raise ConfigError(f"train.batch_size: {batch_size} over {world_size} processes leaves one pair per process; "
                          f"a contrastive batch needs two or more (use train.batch_size >= {2 * world_size})")
