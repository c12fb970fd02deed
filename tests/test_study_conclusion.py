"""Notebook 06's conclusion paragraphs, computed from the study's intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fnac_lib.data.test_sets import TestSet
from fnac_lib.workbook import study, study_conclusion

SETS = {"objects-few": [TestSet("objects-few", None, (96, 16000, 1.0)),
                        TestSet("objects-few-listening", None, (96, 16000, 1.0), listening=True)]}
METRICS = ("AUC", "pointing_game", "listening")


def study_values(oracle_gain, fnac_gain, shuffled_gain=0.0, seeds=5, samples=80) -> dict:
    """Per-sample scores of EZ-VSL, FNAC and the oracle on both test sets; a gain is an array over
    seeds (a constant: told from zero; alternating signs: not)."""
    rng = np.random.default_rng(3)
    values = {}
    for test in ("objects-few", "objects-few-listening"):
        base = rng.uniform(0.2, 0.6, (seeds, samples))
        hit = (rng.random((seeds, samples)) < 0.6).astype(float)
        for method, gain in (("ezvsl", 0.0), ("fnac", fnac_gain), ("oracle", oracle_gain),
                             ("fnac_shuffled", shuffled_gain)):
            shift = np.broadcast_to(np.asarray(gain, dtype=float).reshape(-1, 1), (seeds, 1))
            if test == "objects-few":
                values[(method, test)] = {"AUC": base + shift, "pointing_game": np.clip(hit + shift, 0, 1)}
            else:
                values[(method, test)] = {"listening": np.clip(hit + shift, 0, 1)}
    return values


def paragraph(oracle_gain, fnac_gain, shuffled_gain=0.0) -> str:
    values = study_values(oracle_gain, fnac_gain, shuffled_gain)
    stats = study.study_statistics(values, ["ezvsl", "fnac", "oracle", "fnac_shuffled"])
    paragraphs = study_conclusion.conclusions(stats, SETS, METRICS)
    assert len(paragraphs) == 1 and paragraphs[0].startswith("**objects-few.**")
    return paragraphs[0]


def test_a_measured_oracle_gain_is_stated_with_fnacs_share_of_it():
    text = paragraph(oracle_gain=0.1, fnac_gain=0.03)
    assert "(the oracle) raised objects-few AUC by +10.0 [+10.0, +10.0] points" in text
    assert "FNAC, against EZ-VSL, raised objects-few AUC by +3.0 [+3.0, +3.0] points" in text
    # a constant gain has no spread, so Fieller's interval of the share is degenerate; the share is not
    assert "FNAC recovers 0.30 " in text and "on objects-few AUC (more than half? no)" in text
    # the clipped measures (pointing, listening) move less than 10 points but still all one way
    assert "told from zero" not in text.split("FNAC, against")[0]


def test_without_a_measured_gain_the_intervals_far_ends_bound_the_effect():
    wobble = np.array([0.04, -0.04, 0.03, -0.03, 0.0])  # mean 0, seeds disagree on the sign
    text = paragraph(oracle_gain=wobble, fnac_gain=wobble[::-1])
    oracle, fnac = text.split("FNAC, against EZ-VSL")
    assert "changed none of the 3 measures by an amount told from zero" in oracle
    assert "points of objects-few AUC" in oracle and "points of objects-few-listening listening" in oracle
    low, high = (float(x) for x in oracle.split("its 95% intervals run from ")[1].split(" points")[0].split(" to "))
    assert low < 0 < high  # the interval of the AUC difference, its far ends
    assert "changed none of the 3 measures by an amount told from zero" in fnac
    assert "has no bounded interval" in text and "recovers" not in text


def test_an_oracle_that_loses_is_not_given_a_share():
    text = paragraph(oracle_gain=-0.05, fnac_gain=0.0)
    assert "(the oracle) lowered objects-few AUC by -5.0 [-5.0, -5.0] points" in text
    assert "The oracle gained nothing told from zero" in text and "recovers" not in text


def test_a_fnac_gain_the_oracle_does_not_match_is_not_credited_to_false_negatives():
    wobble = np.array([0.04, -0.04, 0.03, -0.03, 0.0])
    text = paragraph(oracle_gain=wobble, fnac_gain=0.03, shuffled_gain=0.01)
    assert "FNAC, against EZ-VSL, raised objects-few AUC by +3.0 [+3.0, +3.0] points" in text
    assert "On objects-few AUC the oracle, which removes the true false negatives, gained no amount told from zero" in text
    assert "do not tie FNAC's gain there to false negatives" in text
    assert "adjacency matrices permuted (the control: the same terms without their information) changed it by +1.0" in text
    # where the oracle gains too, no such sentence
    assert "do not tie" not in paragraph(oracle_gain=0.1, fnac_gain=0.03)


def test_two_runs_read_side_by_side_name_what_replicated_and_what_did_not(tmp_path, capsys):
    wobble = np.array([0.04, -0.04, 0.03, -0.03, 0.0])
    found = study.study_statistics(study_values(oracle_gain=0.1, fnac_gain=0.03), ["ezvsl", "fnac", "oracle"])
    again = study.study_statistics(study_values(oracle_gain=0.1, fnac_gain=wobble), ["ezvsl", "fnac", "oracle"])
    lines = study_conclusion.replication(found["differences"], again["differences"])
    oracle = next(line for line in lines if line.startswith("oracle - EZ-VSL, objects-few AUC"))
    assert oracle.startswith("oracle - EZ-VSL, objects-few AUC: +10.0 [+10.0, +10.0] points in the first run, "
                             "+10.0 [+10.0, +10.0] points in the replication")
    assert oracle.endswith("found in both")
    assert lines[0].startswith("FNAC - EZ-VSL, objects-few AUC: +3.0 [+3.0, +3.0] points in the first run")
    assert lines[0].endswith("found in the first run alone, not replicated")
    assert lines[-1] == ("Of 6 paired differences, the first run told 6 from zero, the replication 3, "
                         "and 3 were found in both with the same sign.")
    # from the files make study writes, on the command line
    for name, stats in (("first", found), ("second", again)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"differences": stats["differences"]}))
    study_conclusion.main([str(tmp_path / "first.json"), str(tmp_path / "second.json")])
    assert capsys.readouterr().out.splitlines() == [f"* {line}" for line in lines]
    with pytest.raises(SystemExit, match="missing.json: not a study's differences.json"):
        study_conclusion.main([str(tmp_path / "first.json"), str(tmp_path / "missing.json")])
