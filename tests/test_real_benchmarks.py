"""Real benchmarks as a user meets them: shipped split lists, partial downloads, .png frames, relative
metadata paths, native sample rates, tiled short clips, aspect-kept training crops, and ``evaluate``
with its own reader options (``fixtures_benchmarks`` writes the downloads in the real formats)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from fixtures_benchmarks import (FLICKR_IDS, VGGSS_IDS, make_flickr_root, make_vggss_root, noise, write_frame,
                                 write_wav)
from fnac_lib.audio import AudioFrontend
from fnac_lib.checkpoint import save_checkpoint
from fnac_lib.cli import main
from fnac_lib.config import preset
from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.data.benchmarks.decoding import load_audio, load_train_crop
from fnac_lib.data.benchmarks.metadata import METADATA_DIR, FrameFiles
from fnac_lib.data.factory import make_dataset
from fnac_lib.data.sample import collate_samples
from fnac_lib.errors import ConfigError, DatasetError
from fnac_lib.model import AVModel

EMPTY_GT_ID = "M1P1xla8rg0_000000"  # a vggss.json entry whose only box lies on the frame's bottom edge


def test_flickr_test_ids_default_to_the_shipped_list_not_every_annotation(tmp_path):
    root = make_flickr_root(tmp_path / "flickr")
    (root / "flickr_test.csv").unlink()
    make_flickr_root(tmp_path / "flickr", ids=("99999999",))  # a labelled training image beside the test set
    (root / "flickr_test.csv").unlink()
    data = open_benchmark("flickr", root, skip_bad=True)
    assert data.ids == list(FLICKR_IDS)  # the 249-id list, in its order, minus what is not downloaded
    assert len(data.skipped) == 249 - len(FLICKR_IDS)
    assert "99999999" not in data.ids


def test_vggss_png_frames_and_shipped_annotations(tmp_path):
    root = make_vggss_root(tmp_path / "vggss", ids=VGGSS_IDS + (EMPTY_GT_ID,))
    (root / "ids.txt").write_text("\n".join(VGGSS_IDS) + "\n")
    data = open_benchmark("vggss", root, test_list="ids.txt", image_size=32)  # relative: under the data root
    assert data.ids == list(VGGSS_IDS) and all(r.image.suffix == ".png" for r in data.records)
    assert data[0]["image"].shape == (3, 32, 32) and len(data.class_names) == 221
    with pytest.raises(DatasetError, match=r"frames/\S+\.png: missing file \(5153 more bad samples"):
        open_benchmark("vggss", root, image_size=32)
    assert len(open_benchmark("vggss", root, image_size=32, skip_bad=True)) == 4


def test_frames_are_found_in_any_image_format_preferring_jpg(tmp_path):
    for name in ("a.png", "b.jpg", "b.png", "c.JPEG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    frames = FrameFiles(tmp_path)
    assert frames.ids == {"a", "b", "c"} and frames("b").name == "b.jpg" and frames("c").name == "c.JPEG"
    assert frames("missing").name == "missing.jpg" and FrameFiles(tmp_path, ".png").ids == {"a", "b"}


def test_relative_metadata_paths_resolve_against_the_data_root(tmp_path, monkeypatch):
    root = make_flickr_root(tmp_path / "flickr")
    (root / "plus_silent.csv").write_text(f"video,audio,label\r\n{FLICKR_IDS[0]},{FLICKR_IDS[1]},non-sounding\r\n")
    monkeypatch.chdir(tmp_path)  # not the data root: the README's relative example must still work
    data = open_benchmark("flickr", root, extended_csv="plus_silent.csv", image_size=32)
    assert [s for s in data.ids if "__" in s] == [f"{FLICKR_IDS[0]}__{FLICKR_IDS[1]}"]
    shipped = open_benchmark("flickr", root, extended_csv="metadata/slavc/flickr_test_plus_silent.csv",
                             image_size=32, skip_bad=True)  # the workbook's own copy of SLAVC's list
    assert len(shipped.skipped) == 250 and all("__" in i for i, _ in shipped.skipped)  # its 250 silent pairs
    with pytest.raises(DatasetError, match=r"flickr/nowhere.csv: missing file .* data root"):
        open_benchmark("flickr", root, extended_csv="nowhere.csv")


def test_native_rate_keeps_each_files_rate_and_names_a_file_at_another(tmp_path):
    root = make_flickr_root(tmp_path / "flickr", rate=44100)
    data = open_benchmark("flickr", root, sample_rate="native", image_size=32)
    assert data.sample_rate == 44100 and data[0]["audio"].shape == (132300,)
    specs = AudioFrontend(preset("paper").audio)(collate_samples([data[0], data[1]])["audio"])
    assert specs.shape == (2, 1, 257, 554)  # the published 257 x 554 of a 44.1 kHz clip
    write_wav(root / "audio" / f"{FLICKR_IDS[2]}.wav", noise(5.0, 16000), 16000)
    with pytest.raises(DatasetError, match=rf"{FLICKR_IDS[2]}.wav: audio at 16000 Hz, but this dataset's clips "
                                           r"are at 44100 Hz"):
        open_benchmark("flickr", root, sample_rate="native", image_size=32)[2]
    mixed = open_benchmark("flickr", root, sample_rate="native", image_size=32, skip_bad=True)
    assert mixed.ids == list(FLICKR_IDS[:2]) and "16000 Hz" in mixed.skipped[0][1]
    resampled = open_benchmark("flickr", root, sample_rate=16000, image_size=32)  # the documented alternative
    assert resampled[2]["audio"].shape == resampled[0]["audio"].shape == (48000,)


def test_short_clips_are_tiled_as_published_or_padded(tmp_path):
    path = tmp_path / "short.wav"
    write_wav(path, noise(1.25, 16000), 16000)
    wave = sf.read(path, dtype="float32")[0]
    tiled = load_audio(path, 16000, 3.0, short_clips="tile")
    np.testing.assert_array_equal(tiled.numpy(), np.tile(wave, 3)[:48000])  # upstream: np.tile, then cut
    padded = load_audio(path, 16000, 3.0, short_clips="pad")
    assert padded[:100].abs().sum() == 0 and torch.equal(padded[14000:34000], torch.from_numpy(wave))


def test_short_side_training_frames_are_cropped_per_epoch_and_index(tmp_path):
    root = tmp_path / "train"
    for k in range(3):
        write_frame(root / "frames" / f"clip{k}.jpg", size=(480, 270), seed=k)  # 16:9
        write_wav(root / "audio" / f"clip{k}.wav", noise(3.0, 16000, k), 16000)
    config = preset("paper", **{"data.dataset": "folder", "data.data_root": str(root), "train.seed": 7})
    data = make_dataset(config, "train")
    assert data.frame_size == 224 and data[1]["image"].shape == (3, 224, 224)
    want = load_train_crop(root / "frames" / "clip1.jpg", 246, 224, np.random.default_rng([7, 0, 1]))
    assert torch.equal(data[1]["image"], want) and torch.equal(data[1]["image"], data[1]["image"])
    data.set_epoch(1)
    assert not torch.equal(data[1]["image"], want)  # a new crop every epoch
    with pytest.raises(ConfigError, match="data.cache_dir"):
        make_dataset(preset("paper", **{"data.dataset": "folder", "data.data_root": str(root),
                                         "data.cache_dir": str(tmp_path / "cache")}), "train")
    square = make_dataset(preset("paper", **{"data.dataset": "folder", "data.data_root": str(root),
                                             "data.train_resize": "square"}), "train")
    assert square[0]["image"].shape == (3, 246, 246)  # the device crops these


@pytest.fixture
def vggsound_run(tmp_path):
    """A small run trained (here: initialised) on VGG-Sound, with VGG-Sound-only reader options."""
    config = preset("ci", **{"data.dataset": "vggsound", "data.data_root": str(tmp_path / "vggsound"),
                             "data.reader_options": {"class_csv": "vggsound.csv", "id_list": "train.txt"},
                             "eval.empty_gt": "score-zero"})
    model = AVModel(config.model, config.audio)
    run = tmp_path / "run"
    run.mkdir()
    config.save(run / "config.json")
    save_checkpoint(run / "last.pt", {"model": model.state_dict(), "config": config.to_dict(), "epoch": 2,
                                      "step_in_epoch": 0, "global_step": 0})
    return run


def test_evaluate_takes_its_own_reader_options_and_skips_a_partial_download(vggsound_run, tmp_path, capsys):
    flickr = make_flickr_root(tmp_path / "flickr")
    out = tmp_path / "flickr.json"
    # The run's class_csv belongs to VGG-Sound training: Flickr never sees it.
    assert main(["evaluate", "--run-dir", str(vggsound_run), "--benchmark", "flickr", "--data-root", str(flickr),
                 "--batch-size", "2", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["scores"]["av"]["n"] == len(FLICKR_IDS)
    vggss = make_vggss_root(tmp_path / "vggsound", ids=VGGSS_IDS + (EMPTY_GT_ID,))  # 4 of 5,158 clips
    out = tmp_path / "vggss.json"  # no --data-root: VGG-SS lives in the run's VGG-Sound root
    assert main(["evaluate", "--run-dir", str(vggsound_run), "--benchmark", "vggss", "--skip-bad",
                 "--batch-size", "4", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["scores"]["av"]["n"] == 4  # the empty-gt entry is counted (eval.empty_gt=score-zero) ...
    assert len(result["skipped"]) == 5154 and "report that count" in capsys.readouterr().out
    assert main(["evaluate", "--run-dir", str(vggsound_run), "--benchmark", "vggss", "--skip-bad", "--set",
                 "eval.empty_gt=drop", "--reader-option", f"test_list={METADATA_DIR / 'vggss_test.csv'}",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["scores"]["av"]["n"] == 3  # ... or left out on request
    with pytest.raises(SystemExit, match="--data-root"):
        main(["evaluate", "--run-dir", str(vggsound_run), "--benchmark", "flickr"])
    assert vggss.is_dir()
