"""Bad files in every reader path: non-finite audio, masks of another size, names and text that are
not UTF-8, non-finite boxes, odd but valid audio. Each bad file is named; ``skip_bad`` skips that
sample alone and lists it in ``dataset.skipped``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.data.benchmarks.annotations import parse_vggss_json, read_id_list, read_s4_metadata
from fnac_lib.data.benchmarks.decoding import load_audio, load_image
from fnac_lib.data.benchmarks.prepare import decode_audio, prepare_videos
from fnac_lib.data.cache import build_cache
from fnac_lib.data.default.build import build_default_bank
from fnac_lib.errors import AssetBuildError, CacheError, DatasetError
from fixtures_data import fake_fetch, make_fake_packages
from test_readers import (  # noqa: F401 - the fixtures flickr_root, s4_root and vggss_root come along
    SIZE, VGGSS_JSON, flickr_root, flickr_xml, s4_root, tone, vggss_root, write_image, write_wav,
)

LATIN1 = os.fsdecode(b"caf\xe9")  # a name written by a latin-1 system: not UTF-8


def write_float_wav(path: Path, poison: float) -> None:
    wave = tone(1.0, 16000, 440).astype(np.float32)
    wave[8000] = poison
    write_wav(path, wave, 16000, subtype="FLOAT")


# ----------------------------------------------------------------------------- audio
@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_audio_is_refused_and_skipped_by_name(flickr_root, poison):
    write_float_wav(flickr_root / "audio" / "222.wav", poison)
    with pytest.raises(DatasetError, match=r"222\.wav: audio holds 1 NaN or infinite samples"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)[1]
    data = open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["111"] and data.skipped[0][0] == "222" and "NaN or infinite" in data.skipped[0][1]


def test_odd_but_valid_audio_is_read(tmp_path):
    """Silence, 8-bit, 24-bit stereo, one sample, a loud float file: read, finite, padded to the clip."""
    cases = {"silent.wav": (np.zeros(8000), 16000, "PCM_16"), "u8.wav": (tone(0.5, 8000, 300), 8000, "PCM_U8"),
             "stereo.wav": (tone(0.5, 44100, 300, channels=2), 44100, "PCM_24"),
             "one.wav": (np.array([0.5]), 16000, "PCM_16"), "loud.wav": (np.full(4000, 3.0), 16000, "FLOAT")}
    for name, (wave, rate, subtype) in cases.items():
        write_wav(tmp_path / name, wave, rate, subtype=subtype)
        audio = load_audio(tmp_path / name, 16000, 1.0)
        assert audio.shape == (16000,) and torch.isfinite(audio).all(), name
    assert load_audio(tmp_path / "silent.wav", 16000, 1.0).abs().max() == 0


def test_empty_and_zero_length_audio_are_named(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.wav: unreadable audio"):
        load_audio(tmp_path / "empty.wav", 16000, 1.0)
    write_wav(tmp_path / "zero.wav", np.zeros(0), 16000)
    with pytest.raises(DatasetError, match=r"zero\.wav: audio file holds no samples"):
        load_audio(tmp_path / "zero.wav", 16000, 1.0)


def test_prepare_refuses_a_soundtrack_with_nan(tmp_path):
    av = pytest.importorskip("av")
    if "mpeg4" not in av.codecs_available:
        pytest.skip("no MPEG-4 encoder in this PyAV build")
    import fractions

    path = tmp_path / "videos" / "nan.mkv"
    path.parent.mkdir()
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = container.add_stream("pcm_f32le", rate=16000)
        sound.layout = "mono"
        for i in range(10):
            for packet in video.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), "rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        wave = np.zeros((1, 16000), np.float32)
        wave[0, 5000] = np.nan
        frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, fractions.Fraction(1, 16000)
        for packet in [*sound.encode(frame), *sound.encode()]:
            container.mux(packet)
    with pytest.raises(DatasetError, match=r"nan\.mkv: audio holds 1 NaN"):
        decode_audio(str(path), 16000)
    report = prepare_videos(path.parent, tmp_path / "out", workers=1, progress=False)
    assert report.failed[0]["id"] == "nan" and "NaN" in report.failed[0]["reason"]
    assert not list((tmp_path / "out").rglob("*.jpg"))  # a failed video leaves no half of its outputs


def test_a_cache_refuses_non_finite_audio_in_every_dtype(tmp_path, tone_squares):
    class NaNAudio(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            sample = tone_squares(2)[index]
            sample["audio"][0] = float("nan")
            return sample

    for dtype in ("int16", "float16", "float32"):
        with pytest.raises(CacheError, match=r"sample 0 \(tone-0\): audio holds NaN or infinite samples"):
            build_cache(NaNAudio(), tmp_path / dtype, audio_dtype=dtype, num_workers=0, progress=False)
        assert not (tmp_path / dtype).exists()


def test_the_default_data_build_names_a_recording_with_nan(tmp_path):
    trees = make_fake_packages(tmp_path / "packages")
    voice = sorted(trees["asterisk-core-sounds-en-wav"].rglob("digits/1.wav"))[0]
    write_float_wav(voice, float("nan"))
    with pytest.raises(AssetBuildError, match=r"1\.wav: no samples or non-finite samples"):
        build_default_bank(tmp_path / "data", progress=False, fetch=fake_fetch(trees))


# ----------------------------------------------------------------------------- images and masks
def test_a_mask_of_another_size_is_refused_not_stretched(s4_root):
    mask = next(s4_root.rglob("gt_masks/test/**/clipB_3.png"))
    Image.new("L", (32, 32), 255).save(mask)  # its frame is 16 x 16
    data = open_benchmark("avsbench-s4", s4_root, split="test", image_size=16)
    with pytest.raises(DatasetError, match=r"clipB_3\.png: mask is 32x32 px but its frame clipB_3\.png is 16x16"):
        data[2]
    data = open_benchmark("avsbench-s4", s4_root, split="test", image_size=16, skip_bad=True)
    assert [i for i, _ in data.skipped] == ["clipB_3"] and len(data) == 4


def test_a_mask_of_zeros_and_ones_is_refused_not_read_as_empty(s4_root):
    mask = next(s4_root.rglob("gt_masks/test/**/clipB_1.png"))
    Image.fromarray((np.asarray(Image.open(mask)) > 0).astype(np.uint8), "L").save(mask)  # 0 / 1 labels
    with pytest.raises(DatasetError, match=r"clipB_1\.png: mask values reach only 1: foreground is >= 128"):
        open_benchmark("avsbench-s4", s4_root, split="test", image_size=16)[0]


def write_gradient(path: Path, mode: str) -> None:
    """A left-to-right grey ramp 0..255 (mean 127.5) saved in ``mode``, at the mode's own range."""
    ramp = np.tile(np.linspace(0, 255, 64), (32, 1))  # (H, W)
    grey8 = ramp.round().astype(np.uint8)
    if mode == "I;16":
        image = Image.fromarray((grey8.astype(np.uint16) * 257))  # a 16-bit PNG: 0..65535
    elif mode == "I;16B":
        image = Image.frombytes("I;16B", (64, 32), (grey8.astype(">u2") * 257).tobytes())
    elif mode == "I":
        image = Image.fromarray(grey8.astype(np.int32) * 257)
    elif mode == "1":
        image = Image.fromarray(grey8 > 127)
    elif mode == "P":
        image = Image.fromarray(np.stack([grey8] * 3, -1)).convert("P", palette=Image.ADAPTIVE, colors=16)
        image.info["transparency"] = bytes([0, 128] + [255] * 14)  # alpha per palette entry
    elif mode == "CMYK":
        image = Image.fromarray(np.stack([grey8] * 3, -1)).convert("CMYK")
    elif mode == "LA":
        image = Image.fromarray(np.stack([grey8, np.full_like(grey8, 128)], -1), "LA")
    else:
        image = Image.fromarray(grey8)
    image.save(path, **({"transparency": image.info["transparency"]} if mode == "P" else {}))


@pytest.mark.parametrize("mode, name", [
    ("L", "grey.png"), ("I;16", "grey16.png"), ("I;16B", "grey16b.tiff"), ("I", "grey32.tiff"),
    ("1", "bilevel.png"), ("P", "palette-alpha.png"), ("CMYK", "cmyk.jpg"), ("LA", "grey-alpha.png"),
])
def test_frames_of_every_mode_read_by_their_range(tmp_path, mode, name):
    """A 16-bit frame read as 8-bit would be clipped to almost all white (mean 254.5)."""
    write_gradient(tmp_path / name, mode)
    with Image.open(tmp_path / name) as image:
        assert image.mode == mode
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. PIL's "Palette images with Transparency ..."
        frame = load_image(tmp_path / name, 32)
    assert frame.shape == (3, 32, 32) and abs(frame.float().mean().item() - 127.5) < 3, frame.float().mean()


def test_frames_without_a_range_to_read_are_refused(tmp_path):
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(DatasetError, match=r"float\.tiff: 32-bit float image: its range is unknown"):
        load_image(tmp_path / "float.tiff", 8)
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(tmp_path / "wide.tiff")
    with pytest.raises(DatasetError, match=r"wide\.tiff: I image holds values 70000..70000, outside 16 bits"):
        load_image(tmp_path / "wide.tiff", 8)


def test_an_image_too_large_to_decode_is_named(tmp_path, monkeypatch):
    write_image(tmp_path / "huge.jpg", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64 x 64 is then a "decompression bomb"
    with pytest.raises(DatasetError, match=r"huge\.jpg: unreadable image"):
        load_image(tmp_path / "huge.jpg", 8)


# ----------------------------------------------------------------------------- names and text
def test_a_file_name_that_is_not_utf8_skips_that_sample_only(tmp_path):
    for name in ("good", LATIN1):
        write_image(tmp_path / "frames" / f"{name}.jpg")
        write_wav(tmp_path / "audio" / "new.wav", tone(1.0, 16000, 300), 16000)
        os.rename(tmp_path / "audio" / "new.wav", tmp_path / "audio" / f"{name}.wav")  # soundfile cannot write it
    with pytest.raises(DatasetError, match=r"frames/caf\\xe9\.jpg: file name is not valid UTF-8; rename"):
        open_benchmark("folder", tmp_path, image_size=SIZE)
    data = open_benchmark("folder", tmp_path, image_size=SIZE, skip_bad=True)
    assert data.ids == ["good"] and data.skipped[0][0] == "caf\\xe9"
    str(data.skipped).encode("utf-8")  # every report of the skip can be printed and written
    with pytest.raises(DatasetError, match=r"caf\\xe9\.wav: file name is not valid UTF-8"):
        load_audio(tmp_path / "audio" / f"{LATIN1}.wav", 16000, 1.0)


def test_prepare_reports_a_video_name_that_is_not_utf8(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / f"{LATIN1}.mp4").write_bytes(b"\x00" * 64)
    report = prepare_videos(tmp_path / "videos", tmp_path / "out", workers=1, progress=False)
    assert report.failed == [{"video": str(tmp_path / "videos" / "caf\\xe9.mp4"), "id": "caf\\xe9",
                              "reason": "file name is not valid UTF-8; rename the video"}]
    assert "caf\\xe9" in (tmp_path / "out" / "prepare_failures.csv").read_text(encoding="utf-8")


def test_text_files_must_be_utf8_and_may_carry_a_bom(tmp_path, vggss_root, s4_root):
    (tmp_path / "ids.txt").write_bytes("aaa\ncafé\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"ids\.txt: not UTF-8 text \(byte 0xe9 at offset 7\); save the file"):
        read_id_list(tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_bytes(b"aaa\n\x00\x01\x02\n")
    with pytest.raises(DatasetError, match=r"ids\.txt: holds NUL bytes"):
        read_id_list(tmp_path / "ids.txt")
    (tmp_path / "vggsound.csv").write_bytes("aaa,10,chien aboyé,train\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"vggsound\.csv: not UTF-8"):
        open_benchmark("vggsound", vggss_root, split="train", image_size=SIZE, class_csv=tmp_path / "vggsound.csv")
    metadata = s4_root / "s4_meta_data.csv"
    metadata.write_bytes(b"\xef\xbb\xbf" + metadata.read_bytes())  # a spreadsheet's byte-order mark
    assert len(read_s4_metadata(metadata)[0]) == 2
    (vggss_root / "vggss.json").write_bytes(b"\xef\xbb\xbf" + VGGSS_JSON.encode())
    assert len(parse_vggss_json(vggss_root / "vggss.json")[0]) == 3


def test_non_finite_box_coordinates_are_refused(flickr_root, vggss_root):
    (flickr_root / "Annotations" / "111.xml").write_text(flickr_xml([(0, 0, "nan", 9)]))
    with pytest.raises(DatasetError, match=r"111\.xml: box 0: coordinates .* are not all finite"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)
    (vggss_root / "vggss.json").write_text(VGGSS_JSON.replace("[0.5, 0.5, 1.2, 1.0]", "[0.5, NaN, 1.2, 1.0]"))
    with pytest.raises(DatasetError, match=r"entry 1 \(bbb_000020\): 'bbox' must be a list of .* finite numbers"):
        open_benchmark("vggss", vggss_root, image_size=SIZE)


def test_a_box_wholly_outside_its_frame_is_a_bad_sample(flickr_root, vggss_root):
    """Clipped to [0, 1] it would mark nothing, and its sample would be dropped or scored 0 unnamed;
    the public VGG-SS file's boxes without an area (ccc_000030's) stay valid."""
    (flickr_root / "Annotations" / "222.xml").write_text(flickr_xml([(300, 300, 400, 400)]))  # a 256 px frame
    with pytest.raises(DatasetError, match=r"222\.xml: box 0: \(300, 300, 400, 400\) lies wholly outside the "
                                           r"256x256 frame \(annotation_size\)"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)
    data = open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["111"] and data.skipped[0][0] == "222" and "wholly outside" in data.skipped[0][1]
    (flickr_root / "Annotations" / "222.xml").write_text(flickr_xml([(-50, 0, 100, 300)]))  # partly inside: clipped
    assert open_benchmark("flickr", flickr_root, image_size=SIZE)[1]["gt_map"].sum() > 0

    (vggss_root / "vggss.json").write_text(VGGSS_JSON.replace("[0.5, 0.5, 1.2, 1.0]", "[128, 128, 300, 200]"))
    with pytest.raises(DatasetError, match=r"entry 1 \(bbb_000020\): box 0 \[128, 128, 300, 200\] lies wholly "
                                           r"outside the frame .* in \[0, 1\]"):
        open_benchmark("vggss", vggss_root, image_size=SIZE)
    data = open_benchmark("vggss", vggss_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["aaa_000010", "ccc_000030"] and data.skipped[0][0] == "bbb_000020"
    assert data[1]["gt_map"].sum() == 0  # a zero-area box of the public file: valid, marks nothing


# ----------------------------------------------------------------------------- empty sets
def test_a_set_with_nothing_left_is_refused(flickr_root, tmp_path):
    for wav in (flickr_root / "audio").iterdir():
        wav.write_bytes(b"RIFF garbage")
    with pytest.raises(DatasetError, match=r"unreadable audio .* \(no sample of flickr test is left: all 2 are bad\)"):
        open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    (tmp_path / "empty" / "frames").mkdir(parents=True)
    (tmp_path / "empty" / "audio").mkdir()
    with pytest.raises(DatasetError, match="folder test: no samples"):
        open_benchmark("folder", tmp_path / "empty", image_size=SIZE)
    with pytest.raises(DatasetError, match=r"frames: missing directory"):
        open_benchmark("folder", tmp_path / "absent", image_size=SIZE, frame=1)


def test_a_bad_file_found_while_reading_says_how_to_skip_it(flickr_root):
    (flickr_root / "frames" / "111.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DatasetError, match=r"111\.jpg: unreadable image .* skip_bad=True checks every sample first"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)[0]


def test_errors_in_loader_workers_keep_their_one_line(flickr_root):
    """torch re-raises a worker's error as type(traceback text); the message stays the file's line."""
    write_float_wav(flickr_root / "audio" / "111.wav", float("nan"))
    data = open_benchmark("flickr", flickr_root, image_size=SIZE)
    with pytest.raises(DatasetError) as info:
        list(torch.utils.data.DataLoader(data, batch_size=2, num_workers=1, collate_fn=list))
    assert info.value.path.endswith("111.wav") and str(info.value).startswith(info.value.path + ": audio holds 1 NaN")
    assert "Traceback" not in str(info.value)


def test_a_cache_with_a_hand_edited_manifest_is_named(tmp_path, tone_squares):
    import json

    from fnac_lib.data.cache import CachedDataset

    path = build_cache(tone_squares(4), tmp_path / "cache", num_workers=0, progress=False)
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["arrays"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match=r"manifest\.json: lacks \['arrays'\]; rebuild the cache \(delete "):
        CachedDataset(path)
