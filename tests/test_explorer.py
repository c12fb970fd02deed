"""The explorer: cIoU at any threshold, the audio it plays, and its two views."""

import io
import wave

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fnac_lib.workbook import explorer
from fnac_lib.metrics import batch_ciou


def ramp_and_half():
    """A map rising left to right (0 .. 1 over 4 columns) and a gt on the right half."""
    pred = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]).repeat(4, 1)  # (4, 4)
    gt = torch.zeros(4, 4)
    gt[:, 2:] = 1.0
    return pred, gt


def test_ciou_at_threshold_on_hand_made_masks():
    pred, gt = ramp_and_half()
    # 0.0: everything predicted -> 8 / (8 + 8); 0.5: exactly the gt; 0.9: one column of two
    assert float(explorer.ciou_at_threshold(pred, gt, 0.0)) == pytest.approx(0.5)
    assert float(explorer.ciou_at_threshold(pred, gt, 0.5)) == pytest.approx(1.0)
    assert float(explorer.ciou_at_threshold(pred, gt, 0.9)) == pytest.approx(0.5)
    assert float(explorer.ciou_at_threshold(pred, gt, 1.1)) == 0.0  # nothing predicted
    # a fractional gt (Flickr's one-annotator 0.5) counts as fractional overlap
    assert float(explorer.ciou_at_threshold(pred, gt * 0.5, 0.5)) == pytest.approx(1.0)
    batch = explorer.ciou_at_threshold(torch.stack([pred, 1 - pred]), torch.stack([gt, gt]), 0.5)
    assert batch.shape == (2,) and batch.tolist() == pytest.approx([1.0, 0.0])
    with pytest.raises(ValueError, match="one shape"):
        explorer.ciou_at_threshold(pred, gt[:2], 0.5)


def test_the_curve_is_the_slider_and_the_protocol_sits_on_it():
    maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    gt = torch.zeros(3, 8, 8)
    gt[:, 2:6, 1:5] = 1.0
    for m, g in zip(maps, gt):
        curve = explorer.ciou_curve(m, g, [0.1, 0.5, 0.8])
        assert curve.tolist() == pytest.approx([float(explorer.ciou_at_threshold(m, g, t)) for t in (0.1, 0.5, 0.8)])
        median = explorer.protocol_threshold(m)
        assert float(explorer.ciou_at_threshold(m, g, median)) == pytest.approx(float(batch_ciou(m[None], g[None])[0]))


def test_the_median_rule_caps_cIoU_by_the_box_share():
    gt = torch.zeros(8, 8)
    gt[:4, :2] = 1.0  # an eighth of the image: a perfect map reaches 2 / 8 = 0.25 at best
    assert float(explorer.median_rule_ceiling(gt)) == pytest.approx(0.25)
    half = torch.zeros(8, 8)
    half[:, :6] = 1.0  # three quarters: the predicted half fits inside, 32 / 48
    assert explorer.median_rule_ceiling(torch.stack([gt, half])).tolist() == pytest.approx([0.25, 2 / 3])
    perfect = half + 1e-3 * torch.rand(8, 8)  # a map that ranks every gt pixel first
    assert float(batch_ciou(perfect[None], half[None])[0]) == pytest.approx(float(explorer.median_rule_ceiling(half)))


def test_wav_bytes_is_a_playable_16_bit_file():
    wave_in = torch.sin(torch.linspace(0, 200, 1600)) * 0.01  # quiet: peak-normalised on the way out
    with wave.open(io.BytesIO(explorer.wav_bytes(wave_in, 16000))) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate(), file.getnframes()) == (1, 2, 16000, 1600)
        pcm = np.frombuffer(file.readframes(1600), dtype="<i2")
    assert 0.85 * 32767 < np.abs(pcm).max() <= 32767
    assert len(explorer.wav_bytes(torch.zeros(10), 8000)) > 0  # silence stays silence


def explorer_data(n=3):
    pred, gt = ramp_and_half()
    samples = [{"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "gt_map": gt, "audio": torch.randn(800),
                "boxes": torch.tensor([[0.5, 0.0, 1.0, 1.0]]), "id": f"scene-{i}"} for i in range(n)]
    maps = {"ezvsl": torch.stack([1 - pred] * n), "fnac": torch.stack([pred] * n)}  # (n, 4, 4) each
    names = ["zebra (unheard)", "cow (heard)", "drum (heard)"][:n]
    return explorer.ExplorerData(samples, maps, sample_rate=8000, names=names)


def test_headless_view_is_a_static_figure_with_a_curve_column(assert_legible):
    data = explorer_data()
    assert data.cious(0, 0.5) == pytest.approx({"ezvsl": 0.0, "fnac": 1.0})
    fig = explorer.show(data, interactive=False, indices=(0, 1, 7))  # 7 does not exist: skipped
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 4 + 1  # rows: samples; columns: image, two maps, cIoU curve; a colour bar
    assert fig.axes[0].get_title() == "scene 0\nzebra (unheard)"
    assert fig.axes[2].get_title() == "FNAC\ncIoU 1.00 at threshold 0.50"
    assert fig.axes[3].get_xlabel() == "threshold"
    assert fig.axes[-1].get_ylabel().startswith("map value")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("inside the white line" in text for text in legend)  # which side of the outline is predicted
    assert_legible(fig)
    (first,) = explorer.summary(data, [0], threshold=0.5)
    assert first["sound"] == "zebra (unheard)"
    assert first["at_threshold"] == pytest.approx({"ezvsl": 0.0, "fnac": 1.0})
    assert first["ceiling"] == pytest.approx(1.0)  # the gt is half the image: the median rule fits it
    assert set(first["at_protocol"]) == {"ezvsl", "fnac"}
    with pytest.raises(ValueError, match="maps for"):
        explorer.ExplorerData(data.samples[:1], data.maps, 8000)


def test_models_with_identical_maps_share_a_panel_and_a_curve():
    data = explorer_data(1)
    data.maps["tne"] = data.maps["fnac"].clone()
    fig = explorer.static_figure(data, [0])
    assert fig.axes[2].get_title().startswith("FNAC = TNE only\n")
    assert [line.get_label() for line in fig.axes[3].get_lines()][:2] == ["EZ-VSL", "FNAC = TNE only"]
    assert fig.axes[3].get_xlabel() == "threshold\nidentical: FNAC = TNE only"


def test_the_widget_follows_the_slider():
    pytest.importorskip("ipywidgets")
    view = explorer.show(explorer_data(), interactive=True)
    (choose, slider), audio, readout, picture = view.children[0].children, *view.children[1:]
    assert audio.value[:4] == b"RIFF" and picture.value[:4] == b"\x89PNG"
    assert "cIoU 1.000 at 0.50" in readout.value
    slider.value = 0.0
    assert "cIoU 0.500 at 0.00" in readout.value
    assert choose.label == "scene 0: zebra (unheard)" and "zebra (unheard)" in readout.value
    assert choose.layout.width == "max-content"  # as wide as its longest entry
    choose.value = 2
    assert choose.label == "scene 2: drum (heard)"


def test_sounds_are_named_with_whether_training_heard_them():
    from fnac_lib.data.default import make_default_dataset
    from fnac_lib.workbook.common import sound_names

    test = make_default_dataset("objects", "test", variant="open_set", length=8)
    heard = set(test.heard_classes)
    train_labels = {make_default_dataset("objects", "train", length=64)[i]["label"] for i in range(64)}
    assert train_labels <= heard < set(test.sound_classes.tolist())  # some classes sound only in test scenes
    samples = [test[i] for i in range(8)]
    names = sound_names(samples, test)
    for sample, name in zip(samples, names):
        suffix = "(heard)" if sample["label"] in heard else "(unheard)"
        assert name.startswith(f"{test.class_names[sample['label']]} {suffix}")
        assert name.endswith("not in the picture") != sample["on_screen"]
    assert {"(heard)", "(unheard)"} <= {name.split(",")[0].split(" ")[-1] for name in names}

    class Benchmark:  # a real benchmark: class names, no heard split
        class_names = ["dog", "violin"]
    assert sound_names([{"label": 1}, {"label": -1}], Benchmark()) == ["violin", "unknown sound"]


def test_every_scene_shown_has_its_clip_embedded_as_a_playable_wav():
    import base64
    import re

    data = explorer_data()
    page = explorer.scene_audio(data, [0, 2, 7]).data  # 7 does not exist: skipped, as in the figure
    assert page.count("<audio") == 2 and "scene 0: zebra (unheard)" in page and "scene 2: drum (heard)" in page
    for encoded in re.findall(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"', page):
        with wave.open(io.BytesIO(base64.b64decode(encoded))) as file:  # no file or URL behind it: it plays offline
            assert (file.getnchannels(), file.getframerate(), file.getnframes()) == (1, 8000, 800)
