"""Class labels of the Tux Paint stamps: a fine class per stamp-name group, a coarse group per folder.

*Fine*: ``cow`` and ``cow_white`` are one class; the stamps that ``catalogue.TABLE`` lists join
its classes (``drake`` is a duck, ``chimp`` a monkey). *Coarse*: the Tux Paint category folders
(~24: birds, hoofed mammals, instruments, vehicles...), or the table's group for its classes.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import AssetBuildError
from .catalogue import stamp_aliases

STAMPS_DIR = "usr/share/tuxpaint/stamps"
EXCLUDED_STAMP_DIRS = ("symbols/alphabets", "symbols/math")  # letters and digits are not objects

# Stamps that name one kind of thing (a sound's stamp and other pictures of the same thing).
CLASS_GROUPS: dict[str, tuple[str, ...]] = {
    "apple": ("apple_red", "apple_fuji", "apple_granny_smith", "apple_green", "apple_sierra_beauty"),
    "bat": ("bat_left",),
    "bear": ("european-bear",),
    "camel": ("dromedary",),
    "cat": ("blackcat",),
    "cow": ("cow_white",),
    "crossing_sign": ("xing_ped", "xing_school"),
    "deer": ("doe", "wapiti"),
    "donkey": ("donkey_eating",),
    "dreidel": ("dreydl", "dreydl-gimmel", "dreydl-hay", "dreydl-nun", "dreydl-shin"),
    "drum": ("drum_tomtom_floor", "drumkit"),
    "duck": ("drake",),
    "firetruck": ("fire_engine",),
    "goat": ("mountaingoat",),
    "goose": ("gander",),
    "guineafowl": ("helmeted_guineafowl",),
    "hen": ("chicken_profile",),
    "heron": ("heron_greatblue", "heron_greatblue_flying"),
    "penguin": ("little-penguin", "magellanic_penguin", "pengwin"),
    "pig": ("pig_golden", "pig_golden2"),
    "rabbit": ("rabbit_little",),
    "scissors": ("scissors_small_closed", "scissors_small_open"),
    "seagull": ("silver-gull",),
    "sheep": ("sheep_lamb", "ram"),
    "tiger": ("tiger_sumatran",),
}
_ALIAS = {**{stamp: cls for cls, stamps in CLASS_GROUPS.items() for stamp in stamps}, **stamp_aliases()}

# Coarse groups from the Tux Paint category folders; the longest matching prefix wins.
COARSE_GROUPS: tuple[tuple[str, str], ...] = (
    ("animals/amphibians", "reptiles_amphibians"), ("animals/lizards", "reptiles_amphibians"),
    ("animals/dinosaur", "reptiles_amphibians"), ("animals/birds", "birds"),
    ("animals/fish", "sea_life"), ("animals/shellfish", "sea_life"), ("animals/mammals/aquatic", "sea_life"),
    ("animals/insects", "insects"), ("animals/mammals/bovines", "hoofed_mammals"),
    ("animals/mammals/equines", "hoofed_mammals"), ("animals/mammals/camel", "hoofed_mammals"),
    ("animals/mammals/deer", "hoofed_mammals"), ("animals/mammals/cats", "carnivores"),
    ("animals/mammals/dogs", "carnivores"), ("animals/mammals/bears", "carnivores"),
    ("animals/mammals/rodents", "small_mammals"), ("animals/marsupials", "small_mammals"),
    ("animals", "other_animals"), ("clothes", "clothes"), ("food", "food"),
    ("hobbies/music", "instruments"), ("hobbies", "hobbies_sports"), ("sports", "hobbies_sports"),
    ("household/tools", "tools"), ("household", "household"), ("medical", "household"),
    ("military/vehicles", "vehicles"), ("military", "military"), ("naturalforces", "weather_fire"),
    ("people", "people"), ("plants", "plants"), ("seasonal", "holidays"), ("space", "space"),
    ("symbols", "symbols"), ("town/roadsigns", "signs_flags"), ("town/flags", "signs_flags"),
    ("town", "buildings"), ("vehicles", "vehicles"),
)

# Tux Paint files a few animals under a holiday; their coarse group follows the animal.
COARSE_OVERRIDES = {"bat": "other_animals", "cat": "carnivores", "spider": "insects"}


def stamp_class(stem: str, folder: str = "") -> str:
    """Fine class of a Tux Paint stamp: its name group (``lion-2`` -> ``lion``, ``cow_white`` -> ``cow``)."""
    name = stem.lower()
    if name in _ALIAS:
        return _ALIAS[name]
    base = re.sub(r"([_-]?\d+|-[a-z])$", "", name)  # numbered variants: flower7, cep-1, grave-a
    name = base if re.search(r"[a-z]", base) else name
    if not re.search(r"[a-z]{2}", name):  # bare numbers (coins) need their folder to mean anything
        name = f"{Path(folder).name}_{name}"
    return _ALIAS.get(name, name)


def coarse_group(folder: str) -> str:
    """Coarse group of a stamp folder (relative to the stamps root)."""
    best = max((p for p, _ in COARSE_GROUPS if folder == p or folder.startswith(p + "/")), key=len, default=None)
    if best is None:
        raise AssetBuildError(f"stamp folder {folder!r} has no coarse group; add it to COARSE_GROUPS")
    return dict(COARSE_GROUPS)[best]
