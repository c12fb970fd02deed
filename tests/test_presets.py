"""Each setting is defined once: on its dataclass field, in the preset files that list every value,
and through one upgrade step for run directories written before a field existed."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import yaml

import fnac_lib.config as config
from fnac_lib.config import RunConfig, TrainConfig, preset, preset_names, upgrade
from fnac_lib.data.factory import DATASETS
from fnac_lib.errors import ConfigError
from fnac_lib.losses import OBJECTIVES
from fnac_lib.model import VISUAL_TRUNKS

PARAMS = config.PRESET_DIR.parents[1] / "params"


def choices(section_cls, name: str) -> tuple:
    return typing.get_args(typing.get_type_hints(section_cls)[name])


def test_the_defaults_are_the_published_configuration():
    assert RunConfig() == preset("paper")
    assert preset_names() == ["ci", "cpu-demo", "paper", "study"]


@pytest.mark.parametrize("name", ["ci", "cpu-demo", "paper", "study"])
def test_every_preset_file_lists_every_value_once(name):
    values = yaml.safe_load((config.PRESET_DIR / f"{name}.yaml").read_text())
    fields = {s: [f.name for f in dataclasses.fields(cls)] for s, cls in config.SECTIONS.items()}
    assert {s: list(v) for s, v in values.items()} == fields  # every field, in the dataclass's order
    assert preset(name).to_dict()["train"]["method"] == values["train"]["method"]


def test_the_paper_file_names_the_published_source_of_every_value():
    lines = [line for line in (config.PRESET_DIR / "paper.yaml").read_text().splitlines()
             if line.startswith("  ") and not line.strip().startswith("#")]
    assert lines and all("#" in line for line in lines), [line for line in lines if "#" not in line]


def test_a_preset_that_leaves_a_value_out_is_refused_by_name(tmp_path, monkeypatch):
    values = yaml.safe_load((config.PRESET_DIR / "ci.yaml").read_text())
    del values["train"]["tau"]
    (tmp_path / "short.yaml").write_text(yaml.safe_dump(values))
    monkeypatch.setattr(config, "PRESET_DIR", tmp_path)
    with pytest.raises(ConfigError, match="short.yaml: the preset does not set train.tau"):
        preset("short")


def test_the_study_preset_is_the_demo_with_half_the_scenes_at_tau_0_07_in_its_measured_layout():
    demo, study = preset("cpu-demo").to_dict(), preset("study").to_dict()
    differences = {f"{s}.{k}": v for s in demo if s != "version" for k, v in study[s].items() if demo[s][k] != v}
    assert differences == {"data.train_length": 2048, "train.tau": 0.07, "train.channels_last": "auto"}


def test_the_parameter_files_run_a_preset():
    for name in ("demo", "study", "paper"):
        values = yaml.safe_load((PARAMS / f"{name}.yaml").read_text())
        assert values["preset"] in preset_names(), name


def test_every_registry_holds_exactly_the_names_its_field_allows():
    assert set(VISUAL_TRUNKS) == set(choices(config.ModelConfig, "visual_trunk"))
    assert set(DATASETS) == set(choices(config.DataConfig, "dataset"))
    assert set(OBJECTIVES) == set(choices(config.TrainConfig, "method"))


def test_a_section_is_checked_when_built_and_frozen_after():
    with pytest.raises(ConfigError, match="train.batch_size: 1 has no meaning"):
        TrainConfig(batch_size=1)
    assert TrainConfig(lr="1e-4").lr == 1e-4  # text becomes a number here too
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("ci").train.batch_size = 1  # a notebook changes a run with apply_overrides instead
    with pytest.raises(ConfigError, match="data.image_size: 100000 has no meaning; it must be .*2048"):
        preset("ci", **{"data.image_size": 100000})


def test_a_config_json_written_before_versions_loads_with_the_values_it_trained_with(tmp_path):
    """The previous version wrote every field but ``audio.mask_axes`` and ``train.fg_eps`` and no
    version; its defaults were the workbook's own choices, not the published ones."""
    old = RunConfig().to_dict()
    old.pop("version")
    old["audio"].pop("mask_axes")
    old["train"].pop("fg_eps")
    old["audio"].update(mask_style="within", sample_rate=16000)
    (tmp_path / "config.json").write_text(json.dumps(old))
    loaded = RunConfig.load(tmp_path / "config.json")
    assert (loaded.audio.mask_axes, loaded.train.fg_eps, loaded.audio.mask_style) == ("own", 1e-8, "within")
    # Older still: fields that did not exist yet take the values those runs were trained with.
    oldest = RunConfig.from_dict(upgrade({"audio": {"sample_rate": 16000}}))
    assert (oldest.audio.spectrogram, oldest.audio.short_clips, oldest.eval.av_upsample) == ("hann-power", "pad",
                                                                                             "bilinear")
    assert (oldest.model.init, oldest.data.train_resize, oldest.eval.empty_gt) == ("torch", "square", "drop")


def test_a_config_of_another_version_is_refused():
    with pytest.raises(ConfigError, match="configuration version 3"):
        RunConfig.from_dict({"version": 3})
