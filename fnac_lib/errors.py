"""The library's own error types: each message names the file or field at fault.

All derive from ``WorkbookError``, so the command line can print any of them as one line
without a traceback (``cli.main``), while a bug still shows its traceback.
"""

from __future__ import annotations


class WorkbookError(Exception):
    """Base class of every error the workbook raises on purpose about a user's input."""


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

    def __init__(self, path, problem: str) -> None:
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
