"""The reviewed table of the default data: which class every picture and recording shows.

One row per class that can sound, gathering its pictures from several artists (emoji sets by
Google, Twitter, OpenMoji and Microsoft; Tux Paint's photos and drawings; GCompris's drawings)
and its recordings from several packages (Tux Paint, GCompris, OpenSFX, the freedesktop sound
theme, LMMS's samples, and the General MIDI SoundFont rendered by ``synth``). Every name below
was checked against the packages' contents; a name that no longer resolves fails the build with
a line naming it (``collect``), so a package update cannot silently drop an asset.

- ``emoji``: CLDR names, as OpenMoji's ``annotation`` and Fluent's file names spell them; each
  resolves to one code point and so to one picture per emoji style.
- ``stamps``: Tux Paint stamp names (PNG or SVG file stem) that show the class; a stamp's sound
  effect ``NAME.ogg`` follows its stamp. Stamps not listed keep their own name group
  (``classes.stamp_class``).
- ``gcompris``: ``bundle:file`` in GCompris's ``.rcc`` bundles (``.svg`` pictures, ``.ogg`` /
  ``.wav`` recordings).
- ``sounds``: ``package:entry`` recordings of other packages (OpenSFX entries by title, other
  files by path under the package's sample folder).
- ``gm``: General MIDI sources rendered as recordings (``synth``): ``"program N"`` (a melodic
  instrument or effect, 0-127) or ``"drums N M ..."`` (a pattern of percussion-kit notes).
  ``register`` is the MIDI note the class's phrases start from.

Classes whose pictures and recordings fall short of a heard class's (``tables.HEARD_MIN_*``)
become the unheard test: they keep every instance for test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    coarse: str  # coarse group (``classes.COARSE_GROUPS``' names)
    emoji: tuple[str, ...] = ()
    stamps: tuple[str, ...] = ()
    gcompris: tuple[str, ...] = ()
    sounds: tuple[str, ...] = ()
    gm: tuple[str, ...] = ()
    register: int = 60  # MIDI note of the GM phrases (60: middle C)


_FARM = "explore_farm_animals"
_MEMORY = "memory-sound"
TABLE: dict[str, Row] = {
    # -- animals
    "dog": Row("carnivores", ("dog face", "dog", "poodle"), ("dog",),
               (f"{_FARM}:dog.svg", f"{_FARM}:dog.ogg", f"{_MEMORY}:LRBark_1_LA_cut.ogg",
                f"{_MEMORY}:LRBark_3_LA_cut.ogg")),
    "cat": Row("carnivores", ("cat face", "cat", "black cat"), ("blackcat", "kitten"),
               (f"{_FARM}:cat.svg", f"{_FARM}:cat.ogg")),
    "cow": Row("hoofed_mammals", ("cow face", "cow", "ox"), ("cow_white", "bull"),
               (f"{_FARM}:cow.svg", f"{_FARM}:cow.ogg"), ("openttd-opensfx:Cow",)),
    "pig": Row("hoofed_mammals", ("pig face", "pig", "boar"), ("pig_golden", "pig_golden2"),
               (f"{_FARM}:pig.svg", f"{_FARM}:pig.ogg")),
    "sheep": Row("hoofed_mammals", ("ewe", "ram"), ("sheep_lamb", "ram"),
                 (f"{_FARM}:sheep.svg", f"{_FARM}:sheep.ogg"), ("openttd-opensfx:Sheep",)),
    "goat": Row("hoofed_mammals", ("goat",), ("mountaingoat",)),
    "horse": Row("hoofed_mammals", ("horse face", "horse"), (),
                 (f"{_FARM}:horse.svg", f"{_FARM}:horse.ogg"), ("openttd-opensfx:Horse",)),
    "chicken": Row("birds", ("chicken", "rooster", "baby chick", "hatching chick", "front-facing baby chick"),
                   ("hen", "rooster", "chicken_profile"), (f"{_FARM}:chicken.svg", f"{_FARM}:chickens.ogg")),
    "duck": Row("birds", ("duck",), ("drake",), (f"{_FARM}:duck.svg", f"{_FARM}:duck.ogg")),
    "owl": Row("birds", ("owl",), (), (f"{_FARM}:owl.svg", f"{_FARM}:owl.ogg")),
    "bird": Row("birds", ("bird", "parrot"), ("lark", "blackbird", "cuckoo", "quetzal", "tucan", "swallow"), (),
                ("openttd-opensfx:Tropical: Bird (1)", "openttd-opensfx:Tropical: Bird (2)"), ("program 123",), 72),
    "monkey": Row("other_animals", ("monkey face", "monkey", "gorilla", "orangutan"), ("chimp", "gorilla"), (),
                  ("openttd-opensfx:Tropical: Monkeys",)),
    "lion": Row("carnivores", ("lion",), (), (), ("openttd-opensfx:Tropical: Lion roar",)),
    "bee": Row("insects", ("honeybee",), ("hornet",)),
    "frog": Row("reptiles_amphibians", ("frog",), (), (f"{_MEMORY}:LRFrogsInPondDuringStormLACut.ogg",)),
    # -- instruments
    "piano": Row("instruments", ("musical keyboard",), (), ("instruments:piano.svg", "instruments:piano.ogg"),
                 ("lmms-common:instruments/piano01.ogg", "lmms-common:instruments/piano02.ogg",
                  "lmms-common:instruments/e_piano_accord01.ogg"),
                 ("program 0", "program 1", "program 2", "program 4"), 60),
    "guitar": Row("instruments", ("guitar",),
                  ("guitar_electric", "guitar_classical", "guitar2", "guitar_electric_bass", "guitar_electric_bass2"),
                  ("instruments:guitar.svg", "instruments:guitar.ogg", "instruments:electric_guitar.svg",
                   "instruments:electric_guitar.ogg", f"{_MEMORY}:guitar_melody.ogg"),
                  ("lmms-common:instruments/steel_guitar01.ogg", "lmms-common:latin/latin_guitar01.ogg"),
                  ("program 24", "program 25", "program 27", "program 29"), 52),
    "violin": Row("instruments", ("violin",), ("violin", "violin2"), ("instruments:violin.svg", "instruments:violin.ogg"),
                  ("lmms-common:instruments/violin_double_stop01.ogg", "lmms-common:instruments/violin_fingered01.ogg",
                   "lmms-common:instruments/violin_pizzicato01.ogg"), ("program 40", "program 110"), 67),
    "trumpet": Row("instruments", ("trumpet",), ("trumpet",), ("instruments:trumpet.svg", "instruments:trumpet.ogg"),
                   ("lmms-common:instruments/trumpet01.ogg",), ("program 56", "program 59"), 62),
    "saxophone": Row("instruments", ("saxophone",), (), ("instruments:saxophone.svg", "instruments:saxophone.ogg"),
                     (), ("program 64", "program 65", "program 66", "program 67"), 55),
    "banjo": Row("instruments", ("banjo",), (), ("instruments:banjo.svg", "instruments:banjo.ogg"), (),
                 ("program 105",), 60),
    "accordion": Row("instruments", ("accordion",), (), ("instruments:accordion.svg", "instruments:accordion.ogg"),
                     (), ("program 21", "program 23"), 60),
    "flute": Row("instruments", ("flute",), (), ("instruments:flute_traversiere.svg",
                                                 "instruments:flute_traversiere.ogg"),
                 ("lmms-common:instruments/flute01.ogg",), ("program 73", "program 74", "program 72"), 72),
    "drum": Row("instruments", ("drum",), ("drumkit", "drum_tomtom_floor"),
                ("instruments:drum_kit.svg", "instruments:drum_kit.ogg", "instruments:snare_drum.svg",
                 "instruments:snare_drum.ogg"),
                ("lmms-common:beats/break01.ogg", "lmms-common:beats/break02.ogg"),
                ("drums 36 38 42", "drums 38 45 47 50", "drums 36 42 46 49")),
    "hand_drum": Row("instruments", ("long drum",), (), ("instruments:bongo.svg", "instruments:bongo.ogg"), (),
                     ("drums 60 61", "drums 62 63 64", "program 116"), 48),
    "bell": Row("instruments", ("bell", "bellhop bell"), (), (),
                ("sound-theme-freedesktop:bell.oga", "lmms-common:stringsnpads/bell_choir01.ogg"),
                ("program 14", "program 112", "program 9"), 72),
    "maracas": Row("instruments", ("maracas",), (), ("instruments:maracas.svg", "instruments:maracas.ogg"),
                   ("lmms-common:drums/shaker01.ogg", "lmms-common:drums/shaker02.ogg"), ("drums 70", "drums 69 70")),
    "horn": Row("instruments", ("postal horn",), (), ("instruments:horn.svg", "instruments:horn.ogg"), (),
                ("program 60", "program 61"), 55),
    "singer": Row("people", ("microphone", "studio microphone"), (), (),
                  ("lmms-common:stringsnpads/chorus01.ogg", "lmms-common:stringsnpads/chorus02.ogg"),
                  ("program 52", "program 53", "program 54"), 60),
    # instruments with one or two pictures: heard only in the unheard test
    "cello": Row("instruments", (), ("cello",), ("instruments:cello.svg", "instruments:cello.ogg"),
                 ("lmms-common:instruments/cello01.ogg",), ("program 42",), 48),
    "harp": Row("instruments", (), (), ("instruments:harp.svg", "instruments:harp.ogg"), (), ("program 46",), 60),
    "trombone": Row("instruments", (), (), ("instruments:trombone.svg", "instruments:trombone.ogg"), (),
                    ("program 57",), 50),
    "tuba": Row("instruments", (), (), ("instruments:tuba.svg", "instruments:tuba.ogg"), (), ("program 58",), 40),
    "clarinet": Row("instruments", (), (), ("instruments:clarinet.svg", "instruments:clarinet.ogg"), (),
                    ("program 71",), 60),
    "organ": Row("instruments", (), (), ("instruments:organ.svg", "instruments:organ.ogg"),
                 ("lmms-common:instruments/church_organ01.ogg",), ("program 19",), 60),
    "harmonica": Row("instruments", (), (), ("instruments:harmonica.svg", "instruments:harmonica.ogg"), (),
                     ("program 22",), 64),
    "timpani": Row("instruments", (), (), ("instruments:timpani.svg", "instruments:timpani.ogg"), (),
                   ("program 47",), 45),
    "cymbal": Row("instruments", (), ("cymbal_crash",), ("instruments:cymbal.svg", "instruments:cymbal.ogg"),
                  ("lmms-common:drums/crash01.ogg",), ("drums 49 57",)),
    "triangle": Row("instruments", (), (), ("instruments:triangle.svg", "instruments:triangle.ogg"), (),
                    ("drums 81 80",)),
    "tambourine": Row("instruments", (), (), ("instruments:tambourine.svg", "instruments:tambourine.ogg"), (),
                      ("drums 54",)),
    # -- vehicles
    "train": Row("vehicles", ("locomotive", "railway car", "high-speed train", "bullet train", "train", "metro",
                              "light rail", "monorail", "tram"), ("white_train", "toy_train"),
                 (f"{_MEMORY}:LRTrain_slowing_down_01_LA_cut.ogg", "railroad:train.wav"),
                 ("openttd-opensfx:Steam train station departure", "openttd-opensfx:Steam engine going in tunnel",
                  "openttd-opensfx:Diesel/electric train station departure",
                  "openttd-opensfx:Maglev train station departure",
                  "openttd-opensfx:Monorail train station departure")),
    "airplane": Row("vehicles", ("airplane", "small airplane", "airplane departure", "airplane arrival"),
                    ("747", "plane"), (),
                    ("openttd-opensfx:Propeller plane start", "openttd-opensfx:Early jet take off",
                     "openttd-opensfx:Mach 1+ Jet take off", "openttd-opensfx:Modern jet take off",
                     "openttd-opensfx:Toyland: Propeller plane take off")),
    "ship": Row("vehicles", ("ship", "ferry", "passenger ship"), ("tugboat",),
                ("watercycle:harbor1.wav", "watercycle:harbor2.wav"),
                ("openttd-opensfx:Ship horn", "openttd-opensfx:Ferry horn")),
    "bus": Row("vehicles", ("bus", "oncoming bus", "trolleybus", "minibus"),
               ("green_korean_bus", "double_decker_bus", "schoolbus", "iso_bus"), (),
               ("openttd-opensfx:Modern bus start", "openttd-opensfx:Old bus start",
                "openttd-opensfx:Toyland: Comedy bus start (1)")),
    "truck": Row("vehicles", ("delivery truck", "articulated lorry", "pickup truck"),
                 ("truck", "blue_truck", "toy_truck", "garbagetruck", "iso_lorry1", "iso_lorry2", "iso_lorry3",
                  "iso_lorry4"), (),
                 ("openttd-opensfx:Truck/old bus start, pull away",
                  "openttd-opensfx:Truck/old bus start, pull away with horn",
                  "openttd-opensfx:Toyland: Comedy truck start (1)")),
    "car": Row("vehicles", ("automobile", "oncoming automobile", "taxi", "sport utility vehicle"),
               ("beetle", "sedan", "sportscar", "sportscar2", "sportscar3"),
               (f"{_MEMORY}:LRStartAndStopCarEngine1LACut.ogg", "traffic:car.wav"),
               ("openttd-opensfx:Modern car horn",)),
    "helicopter": Row("vehicles", ("helicopter",), ("eddieCopter",), ("guessnumber:helicopter.wav",),
                      ("openttd-opensfx:Helicopter",), ("program 125",), 60),
    "firetruck": Row("vehicles", ("fire engine",), ()),
    # -- household, tools, places, weather
    "telephone": Row("household", ("telephone", "telephone receiver", "mobile phone"), ("phone", "mobile"),
                     (f"{_MEMORY}:LRRing_01_LA.ogg",),
                     ("sound-theme-freedesktop:phone-incoming-call.oga",
                      "sound-theme-freedesktop:phone-outgoing-calling.oga",
                      "sound-theme-freedesktop:phone-outgoing-busy.oga"), ("program 124",), 60),
    "applause": Row("people", ("clapping hands",), (), (f"{_MEMORY}:LRApplauses_1_LA_cut.ogg",),
                    ("openttd-opensfx:Applause", "lmms-common:misc/applause01.ogg"), ("program 126",), 60),
    "sea": Row("weather_fire", ("water wave",), (), (), (), ("program 122",), 60),
    "saw": Row("tools", ("carpentry saw",), ("saw",), (),
               ("openttd-opensfx:Sawmill", "openttd-opensfx:Lumber mill: Chainsaw")),
    "hammer": Row("tools", ("hammer", "hammer and wrench"), ("hammer", "hammer2", "mallet_metal"), (),
                  ("openttd-opensfx:Building bridge",)),
    "door": Row("household", ("door",), (), (f"{_MEMORY}:LRDoor_Open_2_LA.ogg", "canal_lock:door_open.wav",
                                             "canal_lock:door_close.wav")),
    "explosion": Row("military", ("collision", "bomb"), (), (f"{_MEMORY}:LRFireballs_01_LA.ogg",),
                     ("openttd-opensfx:Explosion", "lmms-common:effects/explode01.ogg")),
    "bubbles": Row("weather_fire", ("bubbles",), (), ("watercycle:bubble.wav", "clickgame:bubble.wav"),
                   ("openttd-opensfx:Toyland: Bubble generated", "openttd-opensfx:Toyland: Bubble plop",
                    "openttd-opensfx:Toyland: Plastic mine")),
    "factory": Row("buildings", ("factory",), (),
                   tuple(f"{_MEMORY}:LRFactory_noise_0{k}_LA.ogg" for k in range(1, 7)),
                   ("openttd-opensfx:Factory Whistle",)),
    "crossing_sign": Row("signs_flags", ("children crossing", "vertical traffic light", "horizontal traffic light"),
                         ("xing_ped", "xing_school"), (), ("openttd-opensfx:Level crossing",)),
    "money": Row("household", ("money bag", "coin"), (), ("money:money1.wav", "money:money2.wav"),
                 ("openttd-opensfx:Cash till",)),
    "camera": Row("household", ("camera", "camera with flash"), ("camera_35mm", "camera", "digitalcamera",
                                                               "DSLR_Camera"), (),
                  ("sound-theme-freedesktop:camera-shutter.oga",)),
    "alarm_clock": Row("household", ("alarm clock",), (), (), ("sound-theme-freedesktop:alarm-clock-elapsed.oga",)),
}

# The many-false-negative regime (``objects-few``): a few heard classes with many pictures and
# recordings each, so a batch of 32 holds ~1/8 same-class negatives per anchor.
FEW_CLASSES = ("dog", "bird", "train", "airplane", "guitar", "drum", "telephone", "bell")

# Silent distractors drawn in every emoji style, so the art style of an object never tells
# whether it sounds: OpenMoji subgroups whose emoji are not in TABLE (their class is their name).
SILENT_EMOJI_SUBGROUPS = ("food-fruit", "food-vegetable", "food-sweet", "plant-flower", "plant-other",
                          "clothing", "office")

# GCompris bundles and folders whose photos are backgrounds (monuments: landscapes and buildings).
BACKGROUND_BUNDLES = ("explore_monuments",)


def stamp_aliases() -> dict[str, str]:
    """Tux Paint stamp name -> class, from the table's ``stamps`` columns."""
    return {stamp.lower(): cls for cls, row in TABLE.items() for stamp in row.stamps}
