"""Benchmark readers on small fixtures written in the real on-disk formats.

* Flickr-SoundNet: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``Annotations/<id>.xml`` with several
  annotators' ``<bbox>`` elements in 256x256 pixels, LVS's ``flickr_test.csv`` (``id,number``),
  SLAVC's ``*_plus_silent.csv`` (``image_id,audio_id,label``).
* VGG-SS: LVS's ``vggss.json`` ([{file, class, bbox: [[x1, y1, x2, y2], ...]}]), EZ-VSL's heard
  list (one id per line), the official ``vggsound.csv`` (ytid, start, label, split; no header).
* AVSBench S4: ``s4_meta_data.csv`` with ``name, ..., category, split`` and
  ``s4_data/{visual_frames,gt_masks}/<split>/<category>/<name>/<name>_<k>.png``, ``audio_wav/...wav``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from fnac_lib.evaluation import evaluate
from fnac_lib.model import AVModel
from fnac_lib.data.benchmarks import open_benchmark
from fnac_lib.data.benchmarks.annotations import parse_flickr_xml, read_id_list
from fnac_lib.data.benchmarks.decoding import train_frame_size
from fnac_lib.data.boxes import boxes_to_map
from fnac_lib.data.sample import check_sample, collate_samples
from fnac_lib.errors import DatasetError

SIZE = 8  # output side for hand-computed ground truth


def write_image(path, colour=(200, 30, 30), size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def write_wav(path, wave, rate, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, rate, subtype=subtype)


def tone(seconds, rate, freq, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def flickr_xml(boxes, first_child="idx"):
    """One Senocak-style annotation file: one <bbox> per annotator box, an id field first."""
    body = "".join(
        f"<object><bbox><{first_child}>{i}</{first_child}><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bbox></object>"
        for i, (x1, y1, x2, y2) in enumerate(boxes)
    )
    return f"<?xml version='1.0'?><annotation><filename>x.jpg</filename>{body}</annotation>"


# Three annotators on image 111 (256x256 pixels), one on image 222.
FLICKR_BOXES = {"111": [(0, 0, 128, 128), (64, 64, 192, 192), (0, 0, 64, 64)], "222": [(128, 0, 256, 64)]}
# Hand-computed consensus at 8x8: two or more annotators -> 1, exactly one -> 0.5.
FLICKR_GT_111 = np.array([
    [1, 1, .5, .5, 0, 0, 0, 0],
    [1, 1, .5, .5, 0, 0, 0, 0],
    [.5, .5, 1, 1, .5, .5, 0, 0],
    [.5, .5, 1, 1, .5, .5, 0, 0],
    [0, 0, .5, .5, .5, .5, 0, 0],
    [0, 0, .5, .5, .5, .5, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
])


@pytest.fixture
def flickr_root(tmp_path):
    root = tmp_path / "Flickr-SoundNet"
    for sample_id, boxes in FLICKR_BOXES.items():
        write_image(root / "frames" / f"{sample_id}.jpg")
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{sample_id}.xml").write_text(flickr_xml(boxes))
    write_wav(root / "audio" / "111.wav", tone(2.0, 22050, 1000, channels=2), 22050)  # short, stereo, 22 kHz
    ramp = (np.arange(5 * 16000) / (5 * 16000) * 0.5).astype(np.float32)
    write_wav(root / "audio" / "222.wav", ramp, 16000, subtype="FLOAT")  # long: centred crop
    (root / "flickr_test.csv").write_text("111,202\n222,0\n")  # LVS's list: id, number
    return root


def test_flickr_consensus_gt_matches_hand_computation(flickr_root):
    data = open_benchmark("flickr", flickr_root, split="test", image_size=SIZE)
    assert data.ids == ["111", "222"]
    sample = check_sample(data[0])
    np.testing.assert_array_equal(sample["gt_map"].numpy(), FLICKR_GT_111)
    assert sample["boxes"].shape == (3, 4)
    torch.testing.assert_close(sample["boxes"][1], torch.tensor([0.25, 0.25, 0.75, 0.75]))
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, SIZE, SIZE)
    assert sample["image"][0].float().mean() > 150 and sample["image"][2].float().mean() < 80  # red
    assert sample["on_screen"] is True and sample["label"] == -1 and sample["classes"].numel() == 0
    # one annotator only: the whole box counts 0.5
    gt = data[1]["gt_map"]
    assert gt[:2, 4:].eq(0.5).all() and gt.sum() == 0.5 * 2 * 4


def test_flickr_gt_edges_match_upstream_at_224():
    box = (37, 5, 201, 250)  # pixels of the 256x256 frame
    expected = np.zeros((224, 224))
    x1, y1, x2, y2 = (int(224 * v / 256) for v in box)  # LVS / EZ-VSL's conversion
    expected[y1:y2, x1:x2] = 1
    ours = boxes_to_map([tuple(v / 256 for v in box)], 224, "union")
    np.testing.assert_array_equal(ours.numpy(), expected)


def test_flickr_audio_is_mono_resampled_and_centred(flickr_root):
    data = open_benchmark("flickr", flickr_root, split="test", image_size=SIZE, sample_rate=16000, clip_seconds=3.0)
    short, long = data[0]["audio"], data[1]["audio"]
    assert short.dtype == torch.float32 and short.shape == (48000,) and long.shape == (48000,)
    # 2 s of a 1 kHz tone, centred in 3 s: 0.5 s of zeros each side
    assert short[:7900].abs().max() == 0 and short[-7900:].abs().max() == 0
    spectrum = torch.fft.rfft(short[8000:40000]).abs()
    assert abs(int(spectrum.argmax()) * 16000 / 32000 - 1000) < 2
    # a 5-s ramp: the centred 3 s start 1 s in
    assert long[0].item() == pytest.approx(16000 / 80000 * 0.5, abs=1e-6)


def test_flickr_train_split_uses_id_list_and_larger_frames(flickr_root):
    (flickr_root / "flickr_10k.txt").write_text("222\n111\n")
    data = open_benchmark("flickr", flickr_root, split="train", image_size=SIZE, id_list=flickr_root / "flickr_10k.txt")
    assert data.ids == ["222", "111"]
    sample = check_sample(data[0])
    assert sample["image"].shape == (3, train_frame_size(SIZE), train_frame_size(SIZE))
    assert sample["gt_map"].sum() == 0 and train_frame_size(224) == 246


def test_flickr_extended_open_set_pairs(flickr_root):
    (flickr_root / "flickr_test_plus_silent.csv").write_text("111,111,sounding\n111,222,non-sounding\n")
    extended = flickr_root / "flickr_test_plus_silent.csv"
    data = open_benchmark("flickr", flickr_root, image_size=SIZE, extended_csv=extended)
    assert len(data) == 3
    silent = data[2]
    assert silent["on_screen"] is False and silent["gt_map"].sum() == 0 and silent["id"] == "111__222"
    batch = collate_samples([data[i] for i in range(3)])
    assert batch["on_screen"].tolist() == [True, True, False]


def test_flickr_xml_positional_boxes_as_upstream(tmp_path):
    # Upstream skips a <bbox>'s first child and reads the next four in order.
    path = tmp_path / "a.xml"
    path.write_text("<annotation><object><bbox><a>7</a><b>0</b><c>32</c><d>128</d><e>256</e></bbox></object>"
                    "</annotation>")
    assert parse_flickr_xml(path) == ((0.0, 0.125, 0.5, 1.0),)


def test_id_list_reads_first_field_and_drops_duplicates(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("a,1\n\nb.jpg\na\n")
    assert read_id_list(path) == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# VGG-SS / VGG-Sound

VGGSS_JSON = (
    '[{"file": "aaa_000010", "class": "dog barking", "bbox": [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]]},'
    ' {"file": "bbb_000020", "class": "playing piano", "bbox": [[0.5, 0.5, 1.2, 1.0]]},'
    ' {"file": "ccc_000030", "class": "dog barking", "bbox": [[0.26875, 1.0, 0.753125, 1.0]]}]'
)


def write_vggss_root(root, seconds: float = 10.0):
    """A VGG-SS root of the three ``VGGSS_JSON`` entries: a green frame and a tone of ``seconds`` each."""
    for sample_id in ("aaa_000010", "bbb_000020", "ccc_000030"):
        write_image(root / "frames" / f"{sample_id}.jpg", colour=(20, 200, 20))
        write_wav(root / "audio" / f"{sample_id}.wav", tone(seconds, 16000, 440), 16000)
    (root / "vggss.json").write_text(VGGSS_JSON)
    return root


@pytest.fixture
def vggss_root(tmp_path):
    root = write_vggss_root(tmp_path / "VGGSS")
    (root / "vggss_heard_test.csv").write_text("aaa_000010\nbbb_000020\n")
    return root


def test_vggss_union_gt_classes_and_heard_list(vggss_root):
    data = open_benchmark("vggss", vggss_root, image_size=SIZE)
    assert data.class_names == ["dog barking", "playing piano"] and len(data) == 3
    aaa = check_sample(data[0])
    expected = np.zeros((SIZE, SIZE))
    expected[0:4, 0:4] = 1
    expected[2:6, 2:6] = 1  # binary union, no consensus weighting
    np.testing.assert_array_equal(aaa["gt_map"].numpy(), expected)
    assert aaa["label"] == 0 and aaa["classes"].tolist() == [0, 0] and aaa["boxes"].shape == (2, 4)
    bbb = data[1]
    assert bbb["label"] == 1 and bbb["gt_map"][4:, 4:].eq(1).all() and bbb["gt_map"].sum() == 16  # clipped to 1
    assert data[2]["gt_map"].sum() == 0  # the public file's zero-area boxes mark nothing
    heard = open_benchmark("vggss", vggss_root, image_size=SIZE, subset="heard")
    assert heard.ids == ["aaa_000010", "bbb_000020"] and heard.class_names == data.class_names


def test_val_and_test_lists_choose_the_evaluation_ids(vggss_root, flickr_root):
    (vggss_root / "val.txt").write_text("bbb_000020\n")
    assert open_benchmark("vggss", vggss_root, split="val", image_size=SIZE, val_list=vggss_root / "val.txt").ids \
        == ["bbb_000020"]
    assert open_benchmark("vggss", vggss_root, image_size=SIZE, test_list=vggss_root / "val.txt").ids == ["bbb_000020"]
    for name, root in (("vggss", vggss_root), ("flickr", flickr_root)):
        with pytest.raises(ValueError, match="no validation split"):
            open_benchmark(name, root, split="val", image_size=SIZE)


def test_vggsound_train_labels_from_official_csv(vggss_root):
    (vggss_root / "vggss_10k.txt").write_text("aaa_000010\nbbb_000020\n")
    (vggss_root / "vggsound.csv").write_text(
        'aaa,10,dog barking,train\nbbb,20,"female speech, woman speaking",train\nzzz,0,dog barking,test\n')
    data = open_benchmark("vggsound", vggss_root, split="train", image_size=SIZE, id_list=vggss_root / "vggss_10k.txt",
                          class_csv=vggss_root / "vggsound.csv")
    assert data.class_names == ["dog barking", "female speech, woman speaking"]
    assert [data[i]["label"] for i in range(2)] == [0, 1]
    assert data[0]["image"].shape[-1] == train_frame_size(SIZE)


# ---------------------------------------------------------------------------------------------
# AVSBench S4


def write_s4(root, name, category, split, masks):
    base = root / "s4_data"
    for k in range(1, 6):
        frame = base / "visual_frames" / split / category / name / f"{name}_{k}.png"
        write_image(frame, colour=(10 * k, 0, 0), size=(16, 16))
    for k in range(1, masks + 1):
        mask = np.zeros((16, 16), np.uint8)
        mask[: 2 * k, : 2 * k] = 255  # frame k: a 2k x 2k square in the corner
        path = base / "gt_masks" / split / category / name / f"{name}_{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask, "L").save(path)
    wave = np.repeat(np.arange(1, 6) / 10, 16000).astype(np.float32)  # second k plays the level k/10
    write_wav(base / "audio_wav" / split / category / f"{name}.wav", wave, 16000, subtype="FLOAT")


@pytest.fixture
def s4_root(tmp_path):
    root = tmp_path / "Single-source"
    root.mkdir()
    (root / "s4_meta_data.csv").write_text(
        "name,start,category,split\nclipA,0,dog_barking,train\nclipB,2,baby_laughter,test\n")
    write_s4(root, "clipA", "dog_barking", "train", masks=1)
    write_s4(root, "clipB", "baby_laughter", "test", masks=5)
    return root


def test_avsbench_s4_one_sample_per_annotated_frame(s4_root):
    test = open_benchmark("avsbench-s4", s4_root, split="test", image_size=16)
    assert test.ids == [f"clipB_{k}" for k in range(1, 6)] and test.class_names == ["baby_laughter", "dog_barking"]
    for k in range(1, 6):
        sample = check_sample(test[k - 1])
        expected = torch.zeros(16, 16)
        expected[: 2 * k, : 2 * k] = 1
        torch.testing.assert_close(sample["mask"], expected)
        torch.testing.assert_close(sample["gt_map"], expected)
        torch.testing.assert_close(sample["boxes"], torch.tensor([[0, 0, 2 * k / 16, 2 * k / 16]]))
        assert sample["label"] == 0
        # the k-th second, centred in the 3-s clip: level k/10 in the middle, zeros around it
        assert sample["audio"][24000].item() == pytest.approx(k / 10) and sample["audio"][0] == 0
        assert sample["audio"].abs().gt(0).sum() == 16000
    batch = collate_samples([test[i] for i in range(5)])
    assert batch["mask"].shape == (5, 16, 16)
    train = open_benchmark("avsbench-s4", s4_root, split="train", image_size=16)
    assert train.ids == ["clipA_1"] and train[0]["label"] == 1


def test_avsbench_s4_is_scored_per_clip(s4_root, ci_config):
    test = open_benchmark("avsbench-s4", s4_root, split="test", image_size=16)
    assert test.clip_names == ["clipB"] * 5
    torch.manual_seed(0)
    scores, preds = evaluate(AVModel(ci_config.model, ci_config.audio), test, tau=0.03, batch_size=2)
    assert preds.clips.tolist() == [0] * 5  # the five frames of clipB
    assert set(scores) == {"av", "s4"} and scores["s4"]["av"]["n"] == 5
    assert 0.0 <= scores["s4"]["av"]["F_score"] <= 1.0


def test_avsbench_s4_context_window_stays_inside_the_clip(s4_root):
    data = open_benchmark("avsbench-s4", s4_root, split="test", image_size=16, audio_window="context")
    first, last = data[0]["audio"], data[4]["audio"]
    assert first[:16000].eq(torch.tensor(0.1)).all()  # frame 1: [0, 3) s
    assert last[-16000:].eq(torch.tensor(0.5)).all() and last[0].item() == pytest.approx(0.3)  # frame 5: [2, 5) s


# ---------------------------------------------------------------------------------------------
# Bad input: an error naming the file, or a recorded skip; never a substitute sample.


def test_missing_file_names_the_file(flickr_root):
    (flickr_root / "audio" / "222.wav").unlink()
    with pytest.raises(DatasetError, match=r"222\.wav: missing file"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)
    data = open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["111"] and data.skipped[0][0] == "222" and "222.wav" in data.skipped[0][1]


def test_unreadable_image_names_the_file(flickr_root, caplog):
    (flickr_root / "frames" / "111.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    data = open_benchmark("flickr", flickr_root, image_size=SIZE)
    with pytest.raises(DatasetError, match=r"111\.jpg: unreadable image"):
        data[0]
    with caplog.at_level(logging.WARNING, logger="fnac_lib.readers"):
        data = open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["222"] and [i for i, _ in data.skipped] == ["111"]
    assert "skipped 1 bad samples" in caplog.text and "111.jpg" in caplog.text


def test_unreadable_wav_names_the_file(flickr_root):
    (flickr_root / "audio" / "111.wav").write_bytes(b"RIFF garbage")
    data = open_benchmark("flickr", flickr_root, image_size=SIZE)
    with pytest.raises(DatasetError, match=r"111\.wav: unreadable audio"):
        data[0]
    assert open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True).ids == ["222"]


def test_malformed_xml_names_the_file(flickr_root):
    (flickr_root / "Annotations" / "111.xml").write_text("<annotation><object><bbox><xmin>3</xmin>")
    with pytest.raises(DatasetError, match=r"111\.xml: malformed XML"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)
    (flickr_root / "Annotations" / "111.xml").write_text(flickr_xml([(0, 0, "wide", 9)]))
    with pytest.raises(DatasetError, match=r"111\.xml: box 0: non-numeric"):
        open_benchmark("flickr", flickr_root, image_size=SIZE)
    data = open_benchmark("flickr", flickr_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["222"] and "111.xml" in data.skipped[0][1]


def test_malformed_json_names_the_file(vggss_root):
    (vggss_root / "vggss.json").write_text('[{"file": "aaa_000010", "class": "dog barking", "bbox": [[0, 0')
    with pytest.raises(DatasetError, match=r"vggss\.json: malformed JSON"):
        open_benchmark("vggss", vggss_root, image_size=SIZE)
    (vggss_root / "vggss.json").write_text(VGGSS_JSON.replace("[0.5, 0.5, 1.2, 1.0]", "[0.5, 0.5, 1.2]"))
    with pytest.raises(DatasetError, match=r"vggss\.json: entry 1 \(bbb_000020\): 'bbox'"):
        open_benchmark("vggss", vggss_root, image_size=SIZE)
    data = open_benchmark("vggss", vggss_root, image_size=SIZE, skip_bad=True)
    assert data.ids == ["aaa_000010", "ccc_000030"] and data.skipped[0][0] == "bbb_000020"


def test_malformed_csv_row_names_the_file(s4_root, vggss_root):
    csv_path = s4_root / "s4_meta_data.csv"
    csv_path.write_text(csv_path.read_text() + ",3,baby_laughter,test\n")  # a row without a name
    with pytest.raises(DatasetError, match=r"s4_meta_data\.csv: line 4: malformed row"):
        open_benchmark("avsbench-s4", s4_root, image_size=16)
    assert len(open_benchmark("avsbench-s4", s4_root, image_size=16, skip_bad=True).skipped) == 1
    csv_path.write_text("video,category,split\nclipB,baby_laughter,test\n")
    with pytest.raises(DatasetError, match=r"s4_meta_data\.csv: missing column"):
        open_benchmark("avsbench-s4", s4_root, image_size=16)
    (vggss_root / "vggsound.csv").write_text("aaa,10,dog barking,train\nbbb,20,piano\n")
    with pytest.raises(DatasetError, match=r"vggsound\.csv: line 2: expected 4 fields"):
        open_benchmark("vggsound", vggss_root, split="train", image_size=SIZE, class_csv=vggss_root / "vggsound.csv")


def test_folder_pairs_and_factory_errors(tmp_path, caplog):
    for sample_id in ("x", "y"):
        write_image(tmp_path / "frames" / f"{sample_id}.jpg")
    write_wav(tmp_path / "audio" / "x.wav", tone(1.0, 16000, 300), 16000)
    with caplog.at_level(logging.WARNING, logger="fnac_lib.readers"):
        data = open_benchmark("folder", tmp_path, image_size=SIZE)
    assert data.ids == ["x"] and "1 files have no partner" in caplog.text
    assert check_sample(data[0])["gt_map"].sum() == 0
    with pytest.raises(ValueError, match="unknown benchmark"):
        open_benchmark("imagenet", tmp_path)
    with pytest.raises(ValueError, match="no validation split"):
        open_benchmark("flickr", tmp_path, split="val")
