"""Rendering scene specs: composited pixels, the mixed waveform and the ground truth.

A ``Renderer`` keeps PIL copies of the bank's pictures so each scene only resizes; pasting is
vectorised numpy. Ground truth comes from the pasted alpha after occlusion: a pixel mask and a
tight box per visible sounding object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..boxes import masks_to_boxes
from .scenes import Backdrop, Placed, SceneSpec


@dataclass
class Scene:
    """A rendered scene; ``boxes`` and ``masks`` cover the visible sounding objects."""

    image: np.ndarray  # (S, S, 3) uint8
    audio: np.ndarray  # (T,) float32 at SAMPLE_RATE
    boxes: np.ndarray  # (N, 4) float32 tight boxes x1, y1, x2, y2 in [0, 1] (N = 0 off-screen)
    masks: np.ndarray  # (N, S, S) bool visible pixels of each sounding object
    classes: np.ndarray  # (K,) int64 fine classes of every object in the picture, paint order
    label: int  # fine class of the primary sound
    on_screen: bool
    id: str
    owner: np.ndarray | None = None  # (S, S) int8 paint-order index of the object showing at each pixel, -1 if none


class Renderer:
    """Renders specs against one bank, keeping PIL copies of its pictures so each scene only resizes."""

    def __init__(self, bank: dict[str, np.ndarray]):
        self.bank = bank
        self._cutouts: dict[int, Image.Image] = {}  # premultiplied RGBa, so resizing does not bleed colour
        self._digits: dict[int, Image.Image] = {}  # ink cropped to its box, mode L
        self._photos: dict[int, Image.Image] = {}

    def __call__(self, spec: SceneSpec, image_size: int, clip_samples: int) -> Scene:
        """Pixels, waveform and ground truth of ``spec`` at ``image_size`` px and ``clip_samples`` samples."""
        s = image_size
        canvas = self.backdrop(spec.backdrop, s)  # (S, S, 3) float32 in [0, 1]
        owner = np.full((s, s), -1, dtype=np.int8)  # index of the object that shows at each pixel
        for k, obj in enumerate(spec.objects):
            x1, y1, x2, y2 = box_pixels(obj.box, s)
            rgb, alpha = self.patch(spec.kind, obj, x2 - x1, y2 - y1)  # (h, w, 3) premultiplied, (h, w)
            region = canvas[y1:y2, x1:x2]  # a view: composited in place
            region *= 1.0 - alpha[..., None]
            region += rgb
            owner[y1:y2, x1:x2][alpha >= 0.5] = k
        sounding = np.array([k for k, o in enumerate(spec.objects) if o.sounding], dtype=np.int8)
        masks = owner[None] == sounding[:, None, None]  # (N, S, S)
        np.clip(canvas, 0, 1, out=canvas)
        canvas *= 255
        canvas += 0.5  # so the cast rounds
        return Scene(
            image=canvas.astype(np.uint8),
            audio=render_audio(spec, self.bank, clip_samples),
            boxes=masks_to_boxes(masks),
            masks=masks,
            classes=np.array([o.cls for o in spec.objects], dtype=np.int64),
            label=spec.sounds[0].cls,
            on_screen=spec.on_screen,
            id=spec.id,
            owner=owner,
        )

    def patch(self, kind: str, obj: Placed, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Premultiplied colour (h, w, 3) and alpha (h, w) of one object resized to its box, float32."""
        tint = np.asarray(obj.tint, dtype=np.float32)
        if kind != "digits":
            image = self._cutouts.get(obj.asset)
            if image is None:
                image = self._cutouts[obj.asset] = Image.fromarray(cutout(self.bank, obj.asset)).convert("RGBa")
            pixels = np.asarray(image.resize((w, h), Image.BILINEAR, reducing_gap=2.0), dtype=np.float32)
            if obj.flip:
                pixels = pixels[:, ::-1]
            pixels /= 255.0  # (h, w, 4)
            alpha = pixels[..., 3]
            return np.minimum(pixels[..., :3] * tint, alpha[..., None]), alpha  # premultiplied, still <= alpha
        image = self._digits.get(obj.asset)
        if image is None:
            x1, y1, x2, y2 = self.bank["digit_boxes"][obj.asset]
            ink = np.ascontiguousarray(self.bank["digit_images"][obj.asset][y1:y2, x1:x2])
            image = self._digits[obj.asset] = Image.fromarray(ink)
        alpha = np.asarray(image.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0  # (h, w)
        return alpha[..., None] * tint, alpha

    def backdrop(self, backdrop: Backdrop, size: int) -> np.ndarray:
        """(S, S, 3) float32 background: a washed-out photo crop or a linear colour gradient."""
        c0, c1 = (np.asarray(c, dtype=np.float32) for c in backdrop.colours)
        if backdrop.photo < 0:
            return gradient(c0, c1, backdrop.angle, size)
        photo = self._photos.get(backdrop.photo)
        if photo is None:
            photo = self._photos[backdrop.photo] = Image.fromarray(self.bank["background_images"][backdrop.photo])
        side = max(8, int(round(backdrop.crop[2] * photo.height)))
        x0 = int(round(backdrop.crop[0] * (photo.width - side)))
        y0 = int(round(backdrop.crop[1] * (photo.height - side)))
        crop = photo.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side), reducing_gap=2.0)
        img = np.array(crop, dtype=np.float32)  # (S, S, 3), a fresh array: washed in place
        img *= (1.0 - backdrop.wash) / 255.0
        img += c0 * backdrop.wash
        return img[:, ::-1] if backdrop.flip else img


def gradient(c0: np.ndarray, c1: np.ndarray, angle: float, size: int) -> np.ndarray:
    """(S, S, 3) float32 linear gradient from colour c0 to c1 along direction ``angle``.

    The ramp t = (x cos a + y sin a) rescaled to [0, 1] is separable, so the image is one broadcast
    sum of a per-column and a per-row term (one pass over the pixels).
    """
    grid = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ca, sa = math.cos(angle), math.sin(angle)  # Python floats keep the arrays float32
    span = max((abs(ca) + abs(sa)) * (grid[-1] - grid[0]), 1e-6)
    low = (min(ca * grid[0], ca * grid[-1]) + min(sa * grid[0], sa * grid[-1]))
    d = (c1 - c0) / span  # (3,)
    cols = (ca * grid)[:, None] * d  # (S, 3)
    rows = c0 + ((sa * grid)[:, None] - low) * d  # (S, 3)
    return rows[:, None, :] + cols[None, :, :]  # (S, S, 3)


_RENDERERS: dict[int, Renderer] = {}


def render_scene(spec: SceneSpec, bank: dict[str, np.ndarray], image_size: int, clip_samples: int) -> Scene:
    """Render ``spec`` with the (cached) ``Renderer`` of ``bank``."""
    renderer = _RENDERERS.get(id(bank))
    if renderer is None or renderer.bank is not bank:  # the renderer holds the bank, so ids are not reused
        renderer = _RENDERERS[id(bank)] = Renderer(bank)
    return renderer(spec, image_size, clip_samples)


def box_pixels(box: tuple, size: int) -> tuple[int, int, int, int]:
    x1, y1 = int(round(box[0] * size)), int(round(box[1] * size))
    x2 = min(size, max(x1 + 1, int(round(box[2] * size))))
    y2 = min(size, max(y1 + 1, int(round(box[3] * size))))
    return x1, y1, x2, y2


def cutout(bank: dict[str, np.ndarray], index: int) -> np.ndarray:
    """Cut-out ``index`` as an (h, w, 4) uint8 RGBA view into the bank."""
    start, stop = bank["cutout_offsets"][index], bank["cutout_offsets"][index + 1]
    h, w = bank["cutout_hw"][index]
    return bank["cutout_pixels"][start:stop].reshape(h, w, 4)


def recording(bank: dict[str, np.ndarray], kind: str, index: int) -> np.ndarray:
    """Recording ``index`` (sound effect for objects, spoken digit for digits) as float32 (n,)."""
    prefix = "voice" if kind == "digits" else "sound"
    start, stop = bank[f"{prefix}_offsets"][index], bank[f"{prefix}_offsets"][index + 1]
    return bank[f"{prefix}_audio"][start:stop].astype(np.float32) / 32767.0


def render_audio(spec: SceneSpec, bank: dict[str, np.ndarray], clip_samples: int) -> np.ndarray:
    """(T,) float32 mix of the spec's recordings, each cropped or zero-padded to the clip, peak <= 1."""
    out = np.zeros(clip_samples, dtype=np.float32)
    for heard in spec.sounds:
        wave = recording(bank, spec.kind, heard.asset)  # (n,)
        n = len(wave)
        if n >= clip_samples:
            start = int(round(heard.shift * (n - clip_samples)))
            out += heard.gain * wave[start:start + clip_samples]
        else:
            pad = int(round(heard.shift * (clip_samples - n)))
            out[pad:pad + n] += heard.gain * wave
    peak = float(np.abs(out).max()) if clip_samples else 0.0
    return out / peak if peak > 1.0 else out
