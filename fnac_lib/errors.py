"""The library's own error types: each message names the file or field at fault.

All derive from ``WorkbookError``, so the command line can print any of them as one line
without a traceback (``cli.main``), while a bug still shows its traceback.
"""

from __future__ import annotations


class WorkbookError(Exception):
    """Base class of every error the workbook raises on purpose about a user's input."""

    def __init__(self, *args) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (_from_worker(args[0]),)
        super().__init__(*args)


def _from_worker(message: str) -> str:
    """torch's DataLoader re-raises an error of a worker process as ``type(text)``, the text being a
    whole traceback; keep the error's own line, so it still reads as one line naming the file."""
    if not (message.startswith("Caught ") and "\nOriginal Traceback" in message):
        return message
    last = message.rstrip().splitlines()[-1]  # "fnac_lib.errors.DatasetError: <path>: <problem>"
    return last.split(": ", 1)[1] if ": " in last else last


class ConfigError(WorkbookError, ValueError):
    """A configuration field, preset or override is unknown or has a value it cannot take."""


def printable(path) -> str:
    """A path as text that any terminal and UTF-8 file can hold: bytes of a file name that are not
    UTF-8 (Python keeps them as surrogates) are written ``\\xNN``."""
    try:
        raw = str(path).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name produced
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


class DatasetError(WorkbookError, ValueError):
    """A benchmark file is missing, unreadable or malformed; the message names the file."""

    def __init__(self, path, problem: str | None = None) -> None:
        if problem is None:  # one message "<path>: <problem>" (how a DataLoader worker re-raises it)
            path, _, problem = _from_worker(str(path)).partition(": ")
        self.path = printable(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(WorkbookError, RuntimeError):
    """A checkpoint is missing, unreadable or not a checkpoint of this workbook."""


class CacheError(WorkbookError, RuntimeError):
    """A cache is missing, truncated, corrupt or does not fit the dataset; the message names the file."""


class AssetError(WorkbookError, RuntimeError):
    """Base class for problems with the embedded default data."""


class AssetBuildError(AssetError):
    """The bank could not be built: a missing tool or package, a failed download, a corrupt file."""


class BankError(AssetError):
    """A bank file is missing, unreadable or not what this version of fnac_lib expects."""


class WeightsUnavailableError(WorkbookError, RuntimeError):
    """ImageNet weights were asked for but cannot be found offline."""


class NonFiniteLossError(WorkbookError, FloatingPointError):
    """The training loss became NaN or infinite."""
