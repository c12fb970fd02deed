"""Recordings rendered from the General MIDI SoundFont: many distinct takes of one instrument.

A ``gm`` source of ``catalogue.TABLE`` (``"program 40"``, ``"drums 36 38 42"``) is played as a
few short phrases that differ in pitch, rhythm and length (``phrases``), each rendered at 16 kHz
by TinySoundFont (the PyPI ``tinysoundfont`` wheel, imported from its unpacked copy). Takes of
one class are as different as the SoundFont allows: other presets of the family (grand and
electric piano), other registers and other phrases; they are never the same waveform twice.
"""

from __future__ import annotations

from math import ceil
from pathlib import Path

import numpy as np

from ...errors import AssetBuildError
from .bank import SAMPLE_RATE

TAKES_PER_CLASS = 6  # GM recordings of a class at least (spread over its presets)
NOTE_SECONDS = 0.35  # one step of a phrase
TAIL_SECONDS = 0.6  # rendered after the last note is released (decay)
DRUM_BANK = 128  # SoundFont bank of the percussion kits


def parse_source(source: str) -> tuple[bool, list[int]]:
    """``"program 40"`` -> (False, [40]); ``"drums 36 38"`` -> (True, [36, 38])."""
    kind, *numbers = source.split()
    if kind not in ("program", "drums") or not numbers or (kind == "program" and len(numbers) != 1):
        raise AssetBuildError(f"bad General MIDI source {source!r} in the catalogue: 'program N' or 'drums N ...'")
    values = [int(n) for n in numbers]
    if not all(0 <= v <= 127 for v in values):
        raise AssetBuildError(f"bad General MIDI source {source!r}: numbers lie in 0-127")
    return kind == "drums", values


def phrases(drums: bool, notes: list[int], register: int, take: int) -> list[tuple[float, float, int, int]]:
    """Take ``take`` of a source as (start s, length s, MIDI note, velocity) events.

    Melodic takes cycle through an arpeggio, a long held note, a descending scale and repeated
    notes, each a little higher than the last; drum takes cycle through rhythms of the kit notes.
    """
    step = NOTE_SECONDS
    if drums:
        patterns = ([0, 1, 0, 1, 0, 1, 0, 1], [0, 0, 1, 0, 0, 1, 0, 0, 1], [0, 1, 1, 0, 1, 1], [1, 0, 1, 0, 1, 0])
        pattern = patterns[take % len(patterns)]
        tempo = (0.5, 0.4, 0.3, 0.6)[take % 4] * step * 2
        return [(i * tempo, tempo, notes[(k * (1 + take) + i // 4) % len(notes)], 90 + 15 * (i % 2))
                for i, k in enumerate(pattern)]
    base = register + 3 * (take // 4) - 5 * (take % 2)
    shapes = ([0, 4, 7, 12, 7, 4], [7], [12, 11, 9, 7, 5, 4, 2, 0], [0, 0, 5, 5, 7, 7])
    shape = shapes[take % len(shapes)]
    length = 4 * step if len(shape) == 1 else step
    return [(i * step, length, base + s, 100) for i, s in enumerate(shape)]


def takes_of(sources: tuple[str, ...]) -> int:
    """Takes per source so that a class gets at least TAKES_PER_CLASS GM recordings."""
    return max(2, ceil(TAKES_PER_CLASS / max(len(sources), 1)))


class Renderer:
    """Renders phrases of one SoundFont with the ``tinysoundfont`` module."""

    def __init__(self, tinysoundfont, soundfont: Path):
        if not soundfont.exists():
            raise AssetBuildError(f"package 'fluid-soundfont-gm' lacks {soundfont} (layout changed?)")
        self.module = tinysoundfont
        self.soundfont = soundfont
        self.synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
        try:
            self.sfid = self.synth.sfload(str(soundfont))
        except Exception as err:  # the module raises its own SoundFontException
            raise AssetBuildError(f"corrupt SoundFont {soundfont}: {err}") from err

    def render(self, source: str, register: int, take: int) -> np.ndarray:
        """One take of ``source`` as float64 mono at SAMPLE_RATE."""
        drums, notes = parse_source(source)
        events = phrases(drums, notes, register, take)
        try:
            if drums:
                self.synth.program_select(0, self.sfid, DRUM_BANK, 0, True)
            else:
                self.synth.program_select(0, self.sfid, 0, notes[0])
        except Exception as err:
            raise AssetBuildError(f"the SoundFont {self.soundfont.name} has no preset for {source!r}: {err}") from err
        total = max(start + length for start, length, _, _ in events) + TAIL_SECONDS
        out = np.zeros(int(total * SAMPLE_RATE), dtype=np.float64)
        # events in time order: note-ons and note-offs, rendering the samples between them
        timeline = sorted([(start, 1, note, vel) for start, _, note, vel in events] +
                          [(start + length, 0, note, 0) for start, length, note, _ in events])
        done = 0
        for at, is_on, note, velocity in timeline + [(total, 0, -1, 0)]:
            upto = min(len(out), int(round(at * SAMPLE_RATE)))
            if upto > done:
                block = np.frombuffer(self.synth.generate(upto - done), dtype=np.float32)  # stereo interleaved
                out[done:upto] = block.reshape(-1, 2).mean(axis=1)
                done = upto
            if note < 0:
                continue
            if is_on:
                self.synth.noteon(0, note, velocity)
            else:
                self.synth.noteoff(0, note)
        self.synth.notes_off()
        self.synth.generate(SAMPLE_RATE // 2)  # let the voices die before the next take
        return out
