"""What the command line's words mean: ``--set`` and ``--reader-option`` pairs, an evaluation's data
overrides, and the argument types of ``cli``'s parser."""

from __future__ import annotations

import argparse

import yaml

from .errors import ConfigError


def parse_overrides(pairs: list[str]) -> dict:
    """``section.field=value`` pairs as ``{section.field: text}``; ``config`` converts each text to
    its field's type (``config_checks.coerce``), so ``train.lr=1e-4`` is the number 0.0001."""
    overrides = {}
    for name, value in _pairs(pairs, "--set", "section.field=value"):
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]  # --set 'data.dataset="flickr"'
        overrides[name] = value
    return overrides


def parse_reader_options(pairs: list[str]) -> dict:
    """``key=value`` reader keywords, each value read as YAML (``skip_bad=true`` is a bool, paths stay text)."""
    options = {}
    for name, value in _pairs(pairs, "--reader-option", "key=value"):
        try:
            options[name] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--reader-option {name}: cannot read {value!r} ({str(error).splitlines()[0]})") from None
    return options


def _pairs(pairs: list[str], flag: str, form: str) -> list[tuple[str, str]]:
    found = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{flag} expects {form}, got {pair!r}")
        found.append((name.strip(), value.strip()))
    return found


SAME_DATA = ({"vggss", "vggsound"},)  # benchmark names that read one data root


def evaluation_data(config, args: argparse.Namespace) -> dict:
    """The ``data.*`` overrides of an evaluation: the benchmark, its root and only the reader options
    given to ``evaluate`` (a training run's options, such as VGG-Sound's ``class_csv``, belong to its
    training data, never to a test set)."""
    from .data.factory import DEFAULT_KINDS  # the data package loads only when a command needs it

    trained_on, benchmark = config.data.dataset, args.benchmark or config.data.dataset
    overrides = {"data.dataset": benchmark,
                 "data.reader_options": parse_reader_options(args.reader_option)}
    if args.skip_bad:
        overrides["data.reader_options"]["skip_bad"] = True
    if overrides["data.reader_options"] and benchmark in DEFAULT_KINDS:
        raise ConfigError(f"--reader-option / --skip-bad: {benchmark} is the embedded default data, not a benchmark")
    if args.data_root:
        overrides["data.data_root"] = args.data_root
    elif benchmark not in DEFAULT_KINDS and benchmark != trained_on and \
            not any({benchmark, trained_on} <= family for family in SAME_DATA):
        raise ConfigError(f"--data-root: the run trained on {trained_on}; say where {benchmark} lives")
    if args.length is not None:
        overrides["data.test_length"] = args.length
    return overrides


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value
