"""Scene specs and rendering: ground truth from the pasted alpha, exact regeneration, no leaks."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from fnac_lib.data.boxes import masks_to_boxes
from fnac_lib.data.default.bank import SAMPLE_RATE, TEST, TRAIN, load_bank
from fnac_lib.data.default.render import Renderer, box_pixels, render_scene
from fnac_lib.data.default.scenes import SceneConfig, box_overlap, make_pools, scene_spec, scene_specs
from fixtures_data import build_fixture_bank

REAL_BANK = Path(__file__).resolve().parents[1] / "data" / "default" / "bank.npz"
CLIP = SAMPLE_RATE // 2


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> dict[str, np.ndarray]:
    return load_bank(build_fixture_bank(tmp_path_factory.mktemp("scenes")))


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


KINDS_VARIANTS = [(k, v) for k in ("objects", "digits") for v in ("single", "multi", "open_set")]


@pytest.mark.parametrize("kind, variant", KINDS_VARIANTS)
def test_boxes_are_tight_around_visible_sounding_pixels(bank, kind, variant):
    pools = make_pools(bank, kind, "test")
    for i in range(40):
        spec = scene_spec(pools, "test", variant, 0, i)
        scene = render_scene(spec, bank, 64, CLIP)
        sounding = [o for o in spec.objects if o.sounding]
        assert len(scene.boxes) == len(sounding) == scene.masks.shape[0]
        np.testing.assert_array_equal(scene.boxes, masks_to_boxes(scene.masks))
        for obj, mask in zip(sounding, scene.masks):
            assert mask.any(), f"{spec.id}: sounding object hidden"
            x1, y1, x2, y2 = box_pixels(obj.box, 64)
            outside = mask.copy()
            outside[y1:y2, x1:x2] = False
            assert not outside.any(), f"{spec.id}: mask leaves the pasted rectangle"


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_box_of_a_lone_object_is_its_alpha_box(bank, kind):
    pools = make_pools(bank, kind, "train")
    renderer = Renderer(bank)
    for i in range(20):
        spec = scene_spec(pools, "train", "single", 0, i)
        lone = dataclasses.replace(spec, objects=tuple(o for o in spec.objects if o.sounding))
        scene = renderer(lone, 80, CLIP)
        obj = lone.objects[0]
        x1, y1, x2, y2 = box_pixels(obj.box, 80)
        _, alpha = renderer.patch(kind, obj, x2 - x1, y2 - y1)
        ys, xs = np.nonzero(alpha >= 0.5)
        expected = np.array([x1 + xs.min(), y1 + ys.min(), x1 + xs.max() + 1, y1 + ys.max() + 1]) / 80
        np.testing.assert_allclose(scene.boxes[0], expected, atol=1e-6)


@pytest.mark.parametrize("kind, variant", KINDS_VARIANTS)
def test_eval_lists_regenerate_bit_exactly(bank, kind, variant):
    pools = make_pools(bank, kind, "test")
    first = scene_specs(pools, "test", variant, 0, 12)
    again = scene_specs(make_pools(bank, kind, "test"), "test", variant, 0, 6)
    assert first[:6] == again  # a spec does not depend on the list length
    fresh = Renderer(bank)
    for spec in first[:6]:
        a, b = render_scene(spec, bank, 48, CLIP), fresh(spec, 48, CLIP)
        assert digest(a.image, a.audio, a.masks) == digest(b.image, b.audio, b.masks)


def test_training_scene_depends_only_on_seed_epoch_index(bank):
    pools = make_pools(bank, "objects", "train")
    forward = [scene_spec(pools, "train", "single", 3, i, epoch=2) for i in range(10)]
    backward = [scene_spec(pools, "train", "single", 3, i, epoch=2) for i in reversed(range(10))][::-1]
    assert forward == backward
    assert forward != [scene_spec(pools, "train", "single", 3, i, epoch=3) for i in range(10)]
    assert forward != [scene_spec(pools, "train", "single", 4, i, epoch=2) for i in range(10)]


def test_val_is_not_test(bank):
    val = scene_specs(make_pools(bank, "objects", "val"), "val", "single", 0, 10)
    test = scene_specs(make_pools(bank, "objects", "test"), "test", "single", 0, 10)
    assert {s.id for s in val}.isdisjoint(s.id for s in test)
    assert [s.objects for s in val] != [s.objects for s in test]


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_no_asset_leaks_from_test_into_train(bank, kind):
    image_split = bank["cutout_split"] if kind == "objects" else bank["digit_split"]
    sound_split = bank["sound_split"] if kind == "objects" else bank["voice_split"]
    for split, want in (("train", TRAIN), ("val", TRAIN), ("test", TEST)):
        pools = make_pools(bank, kind, split)
        for variant in ("single", "multi", "open_set"):
            for i in range(60):
                spec = scene_spec(pools, split, variant, 0, i, epoch=i % 3)
                assert all(image_split[o.asset] == want for o in spec.objects), spec.id
                assert all(sound_split[s.asset] == want for s in spec.sounds), spec.id


def test_test_recordings_differ_from_train_recordings(bank):
    for prefix in ("sound", "voice"):
        off, audio, split = bank[f"{prefix}_offsets"], bank[f"{prefix}_audio"], bank[f"{prefix}_split"]
        clips = {i: digest(audio[off[i]:off[i + 1]]) for i in range(len(split))}
        train = {clips[i] for i in np.flatnonzero(split == TRAIN)}
        assert not any(clips[i] in train for i in np.flatnonzero(split == TEST))


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_open_set_sound_is_absent_from_the_picture(bank, kind):
    pools = make_pools(bank, kind, "train")
    for i in range(40):
        spec = scene_spec(pools, "train", "open_set", 0, i)
        assert spec.on_screen == (i % 2 == 0)
        if not spec.on_screen:
            heard = spec.sounds[0].cls
            assert heard not in {o.cls for o in spec.objects}
            assert pools.coarse[heard] not in {pools.coarse[o.cls] for o in spec.objects}
            assert not any(o.sounding for o in spec.objects)
            assert render_scene(spec, bank, 32, CLIP).boxes.shape == (0, 4)


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_multi_source_mixes_two_classes_with_two_boxes(bank, kind):
    pools = make_pools(bank, kind, "train")
    for i in range(20):
        spec = scene_spec(pools, "train", "multi", 0, i)
        assert len(spec.sounds) == 2 and spec.sounds[0].cls != spec.sounds[1].cls
        assert sorted(o.cls for o in spec.objects if o.sounding) == sorted(s.cls for s in spec.sounds)
        scene = render_scene(spec, bank, 48, CLIP)
        assert scene.boxes.shape == (2, 4) and np.abs(scene.audio).max() <= 1.0


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_layout_respects_the_config(bank, kind):
    config = SceneConfig()
    pools = make_pools(bank, kind, "train")
    for i in range(60):
        spec = scene_spec(pools, "train", "single", 1, i)
        classes = [o.cls for o in spec.objects]
        assert len(classes) == len(set(classes)) and 1 <= len(classes) <= config.max_objects
        for n, obj in enumerate(spec.objects):
            side = max(obj.box[2] - obj.box[0], obj.box[3] - obj.box[1])
            low, high = ((config.sound_min_size, config.sound_max_size) if obj.sounding
                         else (config.min_size, config.max_size))
            assert low - 1e-9 <= side <= high + 1e-9
            assert 0 <= obj.box[0] < obj.box[2] <= 1 and 0 <= obj.box[1] < obj.box[3] <= 1
            for other in spec.objects[n + 1:]:
                if not (obj.sounding and other.sounding):  # only two sounding objects may be forced together
                    assert box_overlap(obj.box, other.box) <= config.max_overlap + 1e-9


def test_one_spec_renders_at_any_size_and_clip(bank):
    pools = make_pools(bank, "objects", "test")
    spec = scene_spec(pools, "test", "single", 0, 5)
    small, large = render_scene(spec, bank, 96, SAMPLE_RATE), render_scene(spec, bank, 224, 3 * SAMPLE_RATE)
    assert small.image.shape == (96, 96, 3) and large.image.shape == (224, 224, 3)
    assert small.audio.shape == (SAMPLE_RATE,) and large.audio.shape == (3 * SAMPLE_RATE,)
    np.testing.assert_allclose(small.boxes, large.boxes, atol=3 / 96)


def test_audio_is_a_crop_of_the_recording(bank):
    pools = make_pools(bank, "objects", "train")
    spec = scene_spec(pools, "train", "single", 0, 0)
    heard = spec.sounds[0]
    off = bank["sound_offsets"]
    wave = bank["sound_audio"][off[heard.asset]:off[heard.asset + 1]].astype(np.float32) / 32767
    short = render_scene(spec, bank, 32, 200).audio  # clip shorter than the recording: a window of it
    start = int(round(heard.shift * (len(wave) - 200)))
    np.testing.assert_allclose(short, heard.gain * wave[start:start + 200], atol=1e-6)
    long = render_scene(spec, bank, 32, len(wave) + 1000).audio  # longer clip: zero-padded
    assert np.count_nonzero(long) <= len(wave)


@pytest.mark.skipif(not REAL_BANK.exists(), reason=f"real bank not built at {REAL_BANK} (python -m fnac_lib build-data)")
def test_real_bank_scenes():
    real = load_bank(REAL_BANK)
    for kind in ("objects", "digits"):
        for split in ("train", "test"):
            pools = make_pools(real, kind, split)
            for i in range(10):
                scene = render_scene(scene_spec(pools, split, "multi", 0, i), real, 96, SAMPLE_RATE)
                assert scene.boxes.shape == (2, 4) and scene.masks.any(axis=(1, 2)).all()
