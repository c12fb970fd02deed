"""Scene specs and rendering: ground truth from the pasted alpha, exact regeneration, no leaks."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from fnac_lib.data.boxes import masks_to_boxes
from fnac_lib.data.default.bank import SAMPLE_RATE, TEST, TRAIN, load_bank
from fnac_lib.data.default.render import Renderer, box_pixels, render_scene
from fnac_lib.data.default.layout import box_overlap, box_shape, place_boxes
from fnac_lib.data.default.catalogue import FEW_CLASSES
from fnac_lib.data.default.scenes import KINDS, SceneConfig, make_pools, scene_spec, scene_specs
from fixtures_data import REAL_BANK, build_fixture_bank

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
    sound_class = bank["sound_class"] if kind == "objects" else bank["voice_digit"]
    heard = set(make_pools(bank, kind, "train").sounding.tolist())
    splits = ("train", "val", "test", "heard") + (("unheard",) if kind == "objects" else ())
    for split in splits:
        want = TRAIN if split in ("train", "val") else TEST
        pools = make_pools(bank, kind, split)
        for variant in ("single", "multi", "open_set", "listening"):
            for i in range(60):
                spec = scene_spec(pools, split, variant, 0, i, epoch=i % 3)
                assert all(image_split[o.asset] == want for o in spec.objects), spec.id
                for sound in spec.sounds:
                    if sound_split[sound.asset] != want:  # a heard class with no held-out recording plays its own
                        assert split in ("test", "heard") and sound.cls in heard, spec.id
                        assert not (sound_split[sound_class == sound.cls] == TEST).any(), spec.id


def test_heard_and_unheard_split_the_test_classes(bank):
    heard_in_training = set(make_pools(bank, "objects", "train").sounding.tolist())
    heard, unheard = (set(make_pools(bank, "objects", s).sounding.tolist()) for s in ("heard", "unheard"))
    assert heard and unheard and heard <= heard_in_training and not unheard & heard_in_training
    assert heard | unheard == set(make_pools(bank, "objects", "test").sounding.tolist())
    duck = [str(n) for n in bank["class_names"]].index("duck")  # three recordings, all kept for training:
    assert duck in heard and not (bank["sound_split"][bank["sound_class"] == duck] == TEST).any()  # heard with them
    assert set(make_pools(bank, "digits", "heard").sounding.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="digits/unheard: no class"):
        make_pools(bank, "digits", "unheard")


def test_objects_few_is_a_few_heard_classes_with_many_false_negatives(bank):
    names = [str(n) for n in bank["class_names"]]
    few = make_pools(bank, "objects-few", "train")
    assert sorted(names[c] for c in few.sounding) == sorted(FEW_CLASSES)
    assert set(few.sounding.tolist()) <= set(make_pools(bank, "objects", "train").sounding.tolist())
    assert set(make_pools(bank, "objects-few", "test").sounding.tolist()) <= set(few.sounding.tolist())
    labels = np.array([scene_spec(few, "train", "single", 0, i).sounds[0].cls for i in range(640)]).reshape(-1, 32)
    same = np.mean([((b[:, None] == b[None, :]).sum() - 32) / (32 * 31) for b in labels])  # of each anchor's negatives
    assert same >= 0.10
    with pytest.raises(ValueError, match="objects-few/unheard: no class"):
        make_pools(bank, "objects-few", "unheard")


@pytest.mark.parametrize("kind", ["objects", "digits"])
def test_listening_pairs_share_a_picture_and_swap_the_sound(bank, kind):
    pools = make_pools(bank, kind, "heard")
    for pair in range(15):
        first, second = (scene_spec(pools, "heard", "listening", 0, 2 * pair + k) for k in range(2))
        assert first.backdrop == second.backdrop
        assert [(o.asset, o.box, o.flip, o.tint) for o in first.objects] == \
               [(o.asset, o.box, o.flip, o.tint) for o in second.objects]
        heard = [spec.sounds[0].cls for spec in (first, second)]
        assert heard[0] != heard[1] and {o.cls for o in first.objects} >= set(heard)
        for spec, cls in zip((first, second), heard):
            assert len(spec.sounds) == 1 and [o.cls for o in spec.objects if o.sounding] == [cls]
        a, b = render_scene(first, bank, 48, CLIP), render_scene(second, bank, 48, CLIP)
        assert np.array_equal(a.image, b.image) and not np.array_equal(a.audio, b.audio)
        assert a.masks.any() and b.masks.any() and not (a.masks[0] & b.masks[0]).any()  # disjoint ground truths


def test_sounding_and_silent_objects_share_one_size_distribution(bank):
    areas = {True: [], False: []}
    largest_sounds = []
    pools = make_pools(bank, "objects", "train")
    for i in range(300):
        spec = scene_spec(pools, "train", "single", 0, i)
        sizes = [(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in spec.objects]
        for obj, area in zip(spec.objects, sizes):
            areas[obj.sounding].append(area)
        largest_sounds.append(spec.objects[int(np.argmax(sizes))].sounding)
    # the pasted areas of sounding and silent objects agree in mean and spread: size does not tell
    assert np.mean(areas[True]) == pytest.approx(np.mean(areas[False]), abs=0.02)
    assert np.std(areas[True]) == pytest.approx(np.std(areas[False]), abs=0.02)
    # the biggest object sounds about as often as a guess among the objects would
    chance = np.mean([1 / len(scene_spec(pools, "train", "single", 0, i).objects) for i in range(300)])
    assert np.mean(largest_sounds) == pytest.approx(chance, abs=0.08)


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
        assert len(classes) == len(set(classes)) and config.min_objects <= len(classes) <= config.max_objects
        for n, obj in enumerate(spec.objects):
            w, h = obj.box[2] - obj.box[0], obj.box[3] - obj.box[1]
            assert w * h <= config.max_area + 1e-9
            assert w * h >= config.min_area - 1e-9 or max(w, h) == pytest.approx(1.0)  # very long ones fit the canvas
            assert 0 <= obj.box[0] < obj.box[2] <= 1 and 0 <= obj.box[1] < obj.box[3] <= 1
            for other in spec.objects[n + 1:]:
                assert box_overlap(obj.box, other.box) <= config.max_overlap + 1e-9


def place_boxes_drawing_each_uniform(rng, aspects, areas, max_overlap, tries, required=1, minimum=1, layouts=8):
    """``place_boxes`` as first written: three ``rng.uniform`` calls per attempt, NumPy square roots."""
    def try_place(aspect, placed):
        low, top = areas
        candidate = None
        for attempt in range(tries):
            high = top - (top - low) * attempt / max(tries - 1, 1)
            area = rng.uniform(low, max(high, low))
            w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
            scale = min(1.0, 1.0 / max(w, h))
            w, h = float(w * scale), float(h * scale)
            x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            candidate = (float(x), float(y), float(x + w), float(y + h))
            if all(box_overlap(candidate, other) <= max_overlap for other in placed):
                return candidate, candidate
        return None, candidate

    minimum = min(max(minimum, required), len(aspects))
    for layout in range(layouts):
        last = layout == layouts - 1
        boxes = [None] * len(aspects)
        for k in rng.permutation(len(aspects)):
            box, candidate = try_place(aspects[k], [b for b in boxes if b is not None])
            boxes[k] = candidate if box is None and k < required and last else box
        if last or (sum(b is not None for b in boxes) >= minimum and all(b is not None for b in boxes[:required])):
            return boxes
    return boxes


def test_the_fast_layout_places_every_box_where_the_first_one_did():
    # place_boxes draws an attempt's three uniforms in one call; same stream, same scaling: same boxes
    # to the last bit, and the generator left where the original left it (the scenes after it unchanged).
    for seed in range(400):
        draw = np.random.default_rng(seed)
        aspects = draw.uniform(0.2, 4.0, size=int(draw.integers(1, 7))).tolist()
        settings = dict(areas=(0.03, float(draw.uniform(0.05, 0.5))), max_overlap=float(draw.uniform(0.0, 0.3)),
                        tries=int(draw.integers(1, 30)), required=int(draw.integers(1, 3)), minimum=2)
        fast, first = np.random.default_rng(seed + 1000), np.random.default_rng(seed + 1000)
        assert place_boxes(fast, aspects, **settings) == place_boxes_drawing_each_uniform(first, aspects, **settings)
        assert fast.random() == first.random()
    assert box_shape(0.25, 16.0) == (1.0, 0.0625)  # a long box shrinks to fit the canvas


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
    for kind in KINDS:
        for split in ("train", "test"):
            pools = make_pools(real, kind, split)
            for i in range(10):
                scene = render_scene(scene_spec(pools, split, "multi", 0, i), real, 96, SAMPLE_RATE)
                assert scene.boxes.shape == (2, 4) and scene.masks.any(axis=(1, 2)).all()


@pytest.mark.parametrize("variant", ["single", "listening"])
def test_the_pictures_split_is_the_heard_test_heard_through_training_recordings(bank, variant):
    heard, pictures = make_pools(bank, "objects", "heard"), make_pools(bank, "objects", "pictures")
    a, b = scene_specs(heard, "heard", variant, 0, 60), scene_specs(pictures, "pictures", variant, 0, 60)
    # the same held-out pictures in the same places: only what is heard differs
    assert [(s.backdrop, s.objects) for s in a] == [(s.backdrop, s.objects) for s in b]
    for old, new in zip(a, b):
        assert [h.cls for h in old.sounds] == [h.cls for h in new.sounds]
        assert all(bank["sound_split"][h.asset] == TRAIN and bank["sound_class"][h.asset] == h.cls for h in new.sounds)
    assert any(bank["sound_split"][s.sounds[0].asset] == TEST for s in a)  # the heard test plays held-out ones
    assert scene_specs(pictures, "pictures", variant, 0, 60) == b  # a fixed list, as every test split
