"""Each notebook's reading follows its numbers: the same function, given numbers where FNAC leads
beyond the seed spread and numbers where it does not (or where a model has learnt and where it has
not), writes different sentences, and calls a difference a lead only beyond the spread."""

import pytest

from fnac_lib.scoring import LARGEST_OBJECT, PERFECT_MAP, RANDOM_MAP
from fnac_lib.workbook import adjacency, benchmark, explorer, false_negatives, seed_noise, training_runs

# The sentences below are written for these spreads; the measured ones (seed_noise.SEED_SPREAD) change
# with each study, the readings' logic does not.
SPREAD = {"cIoU": 0.03, "AUC": 0.015, "pointing_game": 0.04, "listening": 0.04}


@pytest.fixture(autouse=True)
def fixed_spread(monkeypatch):
    monkeypatch.setattr(seed_noise, "SEED_SPREAD", dict(SPREAD))


def test_a_lead_is_a_difference_beyond_the_seed_spread_at_the_precision_printed():
    spread = seed_noise.SEED_SPREAD["listening"]
    assert seed_noise.verdict(spread + 0.002, "listening", "FNAC", "EZ-VSL") == "FNAC leads"
    assert seed_noise.verdict(-spread - 0.002, "listening", "FNAC", "EZ-VSL") == "EZ-VSL leads"
    assert seed_noise.verdict(spread + 1e-9, "listening", "FNAC", "EZ-VSL") == seed_noise.WITHIN  # 4.0 is not above 4.0
    assert seed_noise.verdict(0.5, "AP", "FNAC", "EZ-VSL").startswith("no seed spread known")
    assert "within seed noise (spread" in seed_noise.gap_phrase(0.001, "AUC", "FNAC", "EZ-VSL")
    assert seed_noise.points(-0.0004, signed=True) == "+0.0"
    note = seed_noise.spread_note()
    assert seed_noise.SPREAD_SOURCE in note and all(seed_noise.metric_name(m) in note for m in seed_noise.SEED_SPREAD)


def test_the_seed_spread_is_read_from_a_studys_differences_the_noisiest_test_set_per_metric(tmp_path):
    differences = {"spread": {"fnac - ezvsl": {"objects-heard": {"AUC": 0.012, "pointing_game": 0.031},
                                               "objects-unheard": {"AUC": 0.02, "pointing_game": 0.0},
                                               "objects-listening": {"listening": 0.045}},
                              "oracle - ezvsl": {"objects-heard": {"AUC": 0.5}}}}
    assert seed_noise.study_spread(differences) == {"AUC": 0.02, "pointing_game": 0.031, "listening": 0.045}
    assert seed_noise.study_spread(differences, "oracle - ezvsl") == {"AUC": 0.5}


# ---------------------------------------------------------------------------------------------
# 01: the gradient split


def split(loss, floor, fn_rate, push_share, fn_grad=1.0, pos_grad=10.0, total=12.0):
    return {"loss": loss, "floor": floor, "fn_rate": fn_rate, "fn_push_share": push_share,
            "emb_grad_false_negative": fn_grad, "emb_grad_positive": pos_grad, "emb_grad_total": total}


def test_01_reading_follows_whether_the_run_has_learnt_the_classes():
    chance = float(false_negatives.chance_infonce(32))
    learnt = false_negatives.reading({"objects fine, trained": split(1.9, 0.7, 0.02, 0.5, 5.6, 8.5, 7.2),
                                      "objects coarse, trained": split(1.9, 2.2, 0.09, 0.55, 5.8, 8.5, 7.2)}, chance)
    assert "* **trained**\n  * Loss 1.90 (objects fine and objects coarse), below chance" in learnt
    assert "Below the floor of objects coarse (2.20): the floor assumes" in learnt
    assert "Above the floor of objects fine" in learnt
    assert "pushed harder than true negatives" in learnt and "the push undoes part of the pull" in learnt
    waiting = false_negatives.reading({"objects fine, trained": split(7.6, 0.7, 0.02, 0.021),
                                       "objects coarse, trained": split(7.6, 2.2, 0.09, 0.088)}, chance)
    assert "above chance" in waiting and "cannot tell a clip from the others yet" in waiting
    assert "about their plain share" in waiting
    assert "Below the floor" not in waiting and "pushed harder" not in waiting


# ---------------------------------------------------------------------------------------------
# 02: the adjacency matrices as detectors


def detection(trained_audio):
    scores = lambda auroc: {"auroc": auroc, "average_precision": 0.3, "r_precision": 0.3, "positive_rate": 0.02,
                            "batches": 4}
    return {"untrained": {"fine": {"audio": scores(0.6), "visual": scores(0.5)}},
            "trained": {"fine": {"audio": scores(trained_audio), "visual": scores(0.52)}}}


def test_02_reading_follows_how_well_each_matrix_finds_same_class_pairs():
    found = adjacency.reading(detection(0.98))
    assert "finds them: audio (0.98)" in found and "near chance: visual (0.52)" in found
    assert "Training moved audio most, from 0.60 to 0.98" in found
    assert "| fine | audio | FNS-audio's target, and TNE's | 0.60 | 0.98 | 0.30 | 0.02 | finds them |" in found
    missed = adjacency.reading(detection(0.55))
    assert "finds them" not in missed.split("\n\n")[0] and "near chance: audio (0.55) and visual (0.52)" in missed


# ---------------------------------------------------------------------------------------------
# 03: the training runs


def run_metrics(base_loss, best):
    return {"global_step": 8, "history": [{"epoch": 0, "step": 8, "loss": base_loss, "base": base_loss}],
            "validation": [{"epoch": 0, **best}]}


def runs_reading(fnac_auc, base_loss):
    metrics = {"ezvsl": run_metrics(base_loss, {"cIoU": 0.30, "AUC": 0.40, "pointing_game": 0.80}),
               "fnac": run_metrics(base_loss, {"cIoU": 0.31, "AUC": fnac_auc, "pointing_game": 0.81})}
    return training_runs.reading(metrics, training_runs.final_validation(metrics), batch_size=32)


def test_03_reading_follows_the_runs_and_the_seed_spread():
    leads = runs_reading(fnac_auc=0.45, base_loss=2.0)
    assert "EZ-VSL 2.00 and FNAC 2.00. EZ-VSL and FNAC fell below it" in leads
    assert "AUC FNAC leads by 5.0 points, beyond the seed spread of 1.5" in leads
    assert "cIoU +1.0 points, within seed noise (spread 3.0)" in leads
    assert "The published FNAC - EZ-VSL gaps are +0.11 to +0.65 points" in leads
    level = runs_reading(fnac_auc=0.405, base_loss=6.95)
    assert "AUC +0.5 points, within seed noise (spread 1.5)" in level and "leads" not in level
    assert "did not: their validation scores do not come from audio-visual correspondence yet" in level


# ---------------------------------------------------------------------------------------------
# 04: the benchmark tables


def rows_of(listening_fnac, ogl_auc=0.30):
    def row(run, test, protocol, metric, value, map_name="av"):
        return {"run": run, "method": run, "test_set": test, "protocol": protocol, "map": map_name,
                "metric": metric, "value": value, "n": 100}
    rows = []
    for run, (ciou, auc, pointing, listening) in {"ezvsl": (0.18, 0.40, 0.84, 0.50),
                                                  "fnac": (0.17, 0.41, 0.83, listening_fnac)}.items():
        rows += [row(run, "objects-heard", "localization", m, v) for m, v in
                 (("cIoU", ciou), ("AUC", auc), ("pointing_game", pointing))]
        rows += [row(run, "objects-heard", "localization", m, v, "obj") for m, v in
                 (("cIoU", 0.07), ("AUC", 0.32), ("pointing_game", 0.39))]
        rows += [row(run, "objects-heard", "localization", "AUC", ogl_auc, "av_ogl"),
                 row(run, "objects-listening", "listening", "listening", listening),
                 row(run, "objects-listening", "listening", "listening", 0.3, "obj"),
                 row(run, "objects-open_set", "open_set", "AP", 0.12)]
    for ref, (ciou, auc, pointing) in {RANDOM_MAP: (0.0, 0.2, 0.24), LARGEST_OBJECT: (0.25, 0.30, 0.41),
                                       PERFECT_MAP: (0.50, 0.52, 1.0)}.items():
        rows += [row(ref, "objects-heard", "localization", m, v) for m, v in
                 (("cIoU", ciou), ("AUC", auc), ("pointing_game", pointing))]
        rows.append(row(ref, "objects-listening", "listening", "listening", {PERFECT_MAP: 1.0}.get(ref, 0.2)))
    rows += [row(RANDOM_MAP, "objects-open_set", "open_set", "AP", 0.02), row(PERFECT_MAP, "objects-open_set", "open_set", "AP", 0.82)]
    return rows


def test_04_reading_follows_the_tables_and_the_seed_spread():
    leads = benchmark.reading(rows_of(listening_fnac=0.60))
    assert "FNAC leads on listening rate on objects-listening (by 10.0)" in leads
    assert "| objects-listening | listening rate | 50.0 | 60.0 | +10.0 | 4.0 | FNAC leads |" in leads
    assert "3 of the 4 differences are within seed noise" in leads
    assert "Every published gap is smaller than the seed spread" in leads
    # the largest object's box beats both runs on cIoU; every run points and listens better than the blind maps
    assert "**cIoU** (against the largest object's box" in leads and "no run ahead on objects-heard (runs 17.0 to 18.0; " \
        "largest object 25.0)" in leads
    assert "every run ahead on objects-heard (runs 83.0 to 84.0; largest object 41.0)" in leads
    assert "**AV+OGL**: adding objectness" in leads and "moves its AUC by -11.0 points: beyond the seed spread, lower " \
        "on objects-heard" in leads
    assert "the best run goes 12% of the way from one to the other" in leads
    level = benchmark.reading(rows_of(listening_fnac=0.52, ogl_auc=0.415))
    assert "leads on" not in level and "4 of the 4 differences are within seed noise" in level
    assert "| objects-listening | listening rate | 50.0 | 52.0 | +2.0 | 4.0 | within seed noise |" in level
    assert "no run ahead on objects-listening (runs 50.0 to 52.0; deaf bound 50.0)" not in level  # 52 > 50
    assert "some runs ahead on objects-listening (runs 50.0 to 52.0; deaf bound 50.0)" in level
    assert "within the seed spread on every test set" in level


def test_04_tables_show_the_pointing_game_the_listening_rate_and_one_objectness_column():
    tables = dict(benchmark.results_tables(rows_of(listening_fnac=0.60)))
    pointing = tables["Localisation, AV map: pointing game (%)"]
    assert pointing.splitlines()[0] == "| test set | EZ-VSL | FNAC | random map | largest object | objectness | perfect map |"
    assert "| objects-heard | 84.0 | 83.0 | 24.0 | 41.0 | 39.0 | 100.0 |" in pointing
    listening = tables["Listening test, AV map: listening rate (%)"]
    assert "| objects-listening | 50.0 | 60.0 | 20.0 | 20.0 | 30.0 | 100.0 |" in listening
    assert not any("objectness map" in title for title in tables)  # no table of its own, no "EZ-VSL = FNAC" header


# ---------------------------------------------------------------------------------------------
# 05: the scenes of the explorer


def scene(sound, ezvsl, fnac, ceiling=0.6):
    return {"id": sound, "sound": sound, "ceiling": ceiling, "at_threshold": {}, "at_protocol": {"ezvsl": ezvsl,
                                                                                                  "fnac": fnac}}


@pytest.mark.parametrize("fnac_higher", [True, False])
def test_05_reading_counts_what_the_scenes_show(fnac_higher):
    rows = [scene("zebra (unheard)", 0.3, 0.5 if fnac_higher else 0.3), scene("cow (heard)", 0.4, 0.6 if fnac_higher
                                                                                 else 0.4, ceiling=0.3)]
    text = explorer.reading(rows)
    assert ("FNAC's map on 2: zebra (unheard) and cow (heard)" in text) == fnac_higher
    assert ("2 score the same for both" in text) != fnac_higher
    assert "below 0.5 on cow (heard) at 0.30" in text and "2 scenes cannot rank the methods" in text
