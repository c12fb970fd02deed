"""Files written atomically, and the leftovers of writers that were killed.

``atomic_write`` writes to a temporary name in the same folder, flushes, then renames: a process
killed at any moment leaves either the old file or the new one, never half of one. Checkpoints,
run records, the default data's bank, caches and prepared frames all go through it; builds of
whole folders (the bank, a cache) write into a ``staging_dir`` and rename it into place.

What a killed writer leaves behind (a ``.<name>.<random>.tmp`` file, a ``.<name>.building-<random>``
folder) is removed by the next run that writes to the same place (``remove_stale``), under one
rule: every temporary is held under an advisory lock (``flock``) by the process writing it, for
as long as it exists, and the operating system drops that lock when the process dies, ``kill -9``
included. ``remove_stale`` deletes only temporaries whose lock it can take, so it never touches
what a live process is writing, whether that process is another run in the same folder or a
concurrent ``prepare``. (On a network file system the rule holds where the file system honours
locks across machines, as NFSv4 does.) Where ``fcntl`` is missing (Windows) nothing is removed.

A file written here gets the mode a plain ``open`` would give it (0666 less the umask), and a
failed write (a full disk, a read-only folder, a folder where a file should be) raises an
``OSError`` naming the file asked for, never the temporary, which is gone.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, WorkbookError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: temporaries are never judged stale
    fcntl = None

TEMP_SUFFIX = ".tmp"  # atomic_write's temporaries: .<name>.<random>.tmp
STAGING = ".building-"  # staging folders: .<name>.building-<random>, locked through <folder>.lock
ASIDE = ".old-"  # a replaced folder renamed aside before it is deleted: .<name>.old-<random>
LOCK_SUFFIX = ".lock"


def _lock(fd: int, wait: bool = False) -> bool | None:
    """Take the exclusive lock of ``fd``: True when taken, False when a live process holds it,
    None where the file system has no locks (then nothing is ever judged stale)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK, EOPNOTSUPP: a file system that keeps no locks
        return None
    return True


def _is_still(fd: int, path: str) -> bool:
    """True when ``path`` still names the file open as ``fd`` (no cleaner removed it meanwhile)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _locked_temp(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file in ``folder`` (``prefix<random>suffix``), open and locked by this process.

    Created as a plain ``open`` creates a file (0666 less the umask), not 0600 as ``mkstemp``'s:
    it becomes a checkpoint, a score file or a frame that a group or teammate may need to read.
    """
    while True:
        name = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        _lock(fd, wait=True)  # a cleaner holds it only while it removes the file
        if _is_still(fd, name):
            return fd, name
        os.close(fd)  # removed as stale between its creation and the lock: take another name


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a binary temporary file next to ``path``, then rename it into place.

    A write that fails for a reason of the system (``ENOSPC``, ``EACCES``, ``EISDIR``...) leaves
    the previous file as it was, no temporary, and an ``OSError`` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = None
    try:
        handle, temp_name = _locked_temp(path.parent, f".{path.name}.", TEMP_SUFFIX)
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
            os.replace(temp_name, path)  # still under the lock: closing the file releases it
    except BaseException as error:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
        cause = _system_cause(error)
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror or os.strerror(cause.errno), str(path)) from error


def _system_cause(error: BaseException) -> OSError | None:
    """The ``OSError`` behind a failed write: ``error`` itself, or the one torch's zip writer turned
    into ``RuntimeError: [enforce fail ...] unexpected pos`` (a full disk), kept as its context.
    None for anything else: an interrupt, a refusal of the workbook, a bug."""
    if isinstance(error, RuntimeError) and not isinstance(error, WorkbookError):
        error = error.__cause__ or error.__context__
    return error if isinstance(error, OSError) and error.errno is not None else None


def check_writable(path: Path) -> None:
    """Refuse, before any long work, a file ``atomic_write`` could not write: a folder, or a
    place where no file can be created (read-only, no permission); the ``OSError`` names ``path``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = _locked_temp(path.parent, f".{path.name}.", TEMP_SUFFIX)
        os.unlink(name)  # under the lock, as every temporary leaves
        os.close(fd)
    except OSError as error:
        raise OSError(error.errno, error.strerror or os.strerror(error.errno), str(path)) from error


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda file: file.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


@contextmanager
def staging_dir(parent: Path, name: str):
    """A new, locked folder ``parent/.<name>.building-<random>`` for building ``parent/name``.

    The caller renames what it built out of the folder; whatever is left is removed on exit. The
    lock file ``<folder>.lock`` exists before the folder and outlives it, so a folder without one
    belongs to no live build.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    fd, lock_name = _locked_temp(parent, f".{name}{STAGING}", LOCK_SUFFIX)
    folder = Path(lock_name[: -len(LOCK_SUFFIX)])
    try:
        shutil.rmtree(folder, ignore_errors=True)  # only an orphan can hold this name: its lock file was gone
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        Path(lock_name).unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def hold_lock(path: Path, busy: Exception):
    """Hold the exclusive lock of the file ``path`` (created if needed) for the ``with`` block;
    raise ``busy`` when another live process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _lock(fd) is False:
            raise busy
        yield path
    finally:
        os.close(fd)


def _remove_if_unlocked(lock_path: Path, also: Path | None = None) -> bool:
    """Remove ``lock_path`` (and the folder ``also`` it guards) when no live process holds its lock."""
    try:
        fd = os.open(lock_path, os.O_RDWR)  # read-write: NFS grants exclusive locks only to writers
    except OSError:
        return False
    try:
        if not (_lock(fd) and _is_still(fd, str(lock_path))):
            return False
        if also is not None:
            shutil.rmtree(also, ignore_errors=True)
        lock_path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def remove_stale(folder: Path, depth: int = 0, aside: bool = False) -> list[Path]:
    """Delete the temporaries in ``folder`` that killed writers left (module docstring); returns them.

    Temporary files and staging folders are removed only when their lock is free, staging folders
    without a lock file always; with ``aside`` also folders a replacement set aside
    (``.<name>.old-*``: builds of the bank and caches make them). ``depth`` > 0 also cleans the
    (not hidden) folders inside, that many levels down.
    """
    folder = Path(folder)
    if fcntl is None or not folder.is_dir():
        return []
    removed, inside = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name, path = entry.name, Path(entry.path)
        if not name.startswith("."):
            if depth > 0 and entry.is_dir(follow_symlinks=False):
                inside.append(path)
        elif name.endswith(TEMP_SUFFIX) and name.count(".") >= 3 and entry.is_file(follow_symlinks=False):
            if _remove_if_unlocked(path):
                removed.append(path)
        elif STAGING in name and name.endswith(LOCK_SUFFIX) and entry.is_file(follow_symlinks=False):
            staged = path.with_name(name[: -len(LOCK_SUFFIX)])
            if _remove_if_unlocked(path, also=staged):
                removed.append(staged)
        elif (STAGING in name or aside and ASIDE in name) and entry.is_dir(follow_symlinks=False):
            lock = path.with_name(name + LOCK_SUFFIX)
            if ASIDE in name or not lock.exists():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    for path in inside:
        removed += remove_stale(path, depth - 1, aside)
    return removed


def refuse_empty_paths(args, names) -> None:
    """Refuse an empty path (``--run-dir "$RUN"`` with ``RUN`` unset): it would mean the current
    folder, so a run would train into it, or a default silently take its place."""
    for name in names:
        if getattr(args, name, None) == "":
            flag = name.upper() if name in ("file", "video_dir", "out_root") else "--" + name.replace("_", "-")
            raise ConfigError(f"{flag}: empty path (an unset shell variable?); it would mean the current folder, "
                              "so name one")
