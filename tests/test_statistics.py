"""The study's intervals cover what they claim: simulated studies with a known true difference and
seed-, scene- and sample-level noise of the sizes the study measures (``fnac_lib.statistics``)."""

from __future__ import annotations

import numpy as np
import pytest

from fnac_lib import statistics

SEEDS, SAMPLES, STUDIES = 5, 200, 2000  # the study's seeds and test scenes per set; simulated studies
# Standard deviations (in fractions) of a paired difference's seed effect, scene effect and residual,
# of the sizes the study measures (README, "The study": the FNAC - EZ-VSL listening difference's seed
# spread, 0.084; per-scene scores of 0 and 1).
SIZES = {"seed": 0.084, "scene": 0.12, "residual": 0.45}


def simulated_differences(rng: np.random.Generator, truth: float, seed_sd: float, scene_sd: float,
                          residual_sd: float, seeds: int = SEEDS, samples: int = SAMPLES) -> np.ndarray:
    """One study's (seeds, samples) matrix of paired differences: truth + a_s + b_i + e_si."""
    return (truth + seed_sd * rng.standard_normal((seeds, 1)) + scene_sd * rng.standard_normal((1, samples))
            + residual_sd * rng.standard_normal((seeds, samples)))


def coverage(interval, truth: float, studies: int, seed: int, **sizes) -> float:
    """Share of ``studies`` simulated studies whose interval holds ``truth``."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(studies):
        low, high = interval(simulated_differences(rng, truth, **sizes))
        hits += low <= truth <= high
    return hits / studies


def crossed_interval(values: np.ndarray) -> tuple[float, float]:
    found = statistics.estimate(values)
    return found["ci_low"], found["ci_high"]


def two_level_bootstrap(values: np.ndarray, replicates: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The study's earlier interval: a percentile bootstrap resampling seeds, then samples."""
    rng = np.random.default_rng(seed)
    seeds, samples = values.shape
    seed_draws = rng.integers(0, seeds, (replicates, seeds))
    sample_draws = rng.integers(0, samples, (replicates, samples))
    per_seed = values[:, sample_draws].mean(axis=2).T  # (R, S)
    means = np.take_along_axis(per_seed, seed_draws, axis=1).mean(axis=1)
    return tuple(np.percentile(means, [2.5, 97.5]))


def test_intervals_cover_the_true_difference_at_the_studys_size():
    sizes = {f"{k}_sd": v for k, v in SIZES.items()}
    found = coverage(crossed_interval, 0.05, STUDIES, seed=1, **sizes)
    earlier = coverage(two_level_bootstrap, 0.05, 400, seed=1, **sizes)
    message = f"crossed t-interval {found:.3f} over {STUDIES} studies; the earlier bootstrap {earlier:.3f}"
    print(message)
    assert 0.93 <= found <= 0.97, message


@pytest.mark.parametrize("seed_sd, scene_sd, residual_sd", [
    (0.0, 0.0, 0.45),  # nothing but sample noise
    (0.08, 0.0, 0.3),  # the seeds dominate
    (0.01, 0.2, 0.45),  # the scenes dominate
])
def test_intervals_cover_whichever_level_dominates(seed_sd, scene_sd, residual_sd):
    found = coverage(crossed_interval, -0.02, STUDIES, seed=2, seed_sd=seed_sd, scene_sd=scene_sd,
                     residual_sd=residual_sd)
    assert 0.93 <= found <= 0.97 + 0.02 * (seed_sd == 0), found  # conservative when a level is absent


def test_with_three_seeds_the_t_quantile_widens_the_interval():
    rng = np.random.default_rng(3)
    values = simulated_differences(rng, 0.0, 0.05, 0.0, 0.0, seeds=3)  # the seeds alone
    found = statistics.estimate(values)
    per_seed = values.mean(axis=1)
    half = 4.303 * per_seed.std(ddof=1) / np.sqrt(3)  # t with 2 degrees of freedom
    assert found["ci_high"] - found["mean"] == pytest.approx(half, rel=1e-3)
    assert found["df"] == pytest.approx(2.0)


def test_one_seed_is_an_interval_over_the_scenes():
    values = np.array([[0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0]])
    found = statistics.estimate(values)
    assert found["df"] == 7 and found["se"] == pytest.approx(values.std(ddof=1) / np.sqrt(8))


def test_paired_differences_count_the_seeds_ahead():
    a = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    found = statistics.paired_difference(a, b)
    assert (found["seeds_positive"], found["seeds"]) == (2, 3) and found["mean"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="one shape"):
        statistics.paired_difference(a, b[:2])


def test_recovered_share_is_a_fieller_interval_consistent_with_the_half_test():
    rng = np.random.default_rng(4)
    baseline = rng.normal(0.5, 0.3, (SEEDS, SAMPLES))
    oracle = baseline + 0.2 + 0.02 * rng.standard_normal((SEEDS, 1)) + 0.2 * rng.standard_normal((SEEDS, SAMPLES))
    method = baseline + 0.15 + 0.02 * rng.standard_normal((SEEDS, 1)) + 0.2 * rng.standard_normal((SEEDS, SAMPLES))
    share = statistics.recovered_share(method, baseline, oracle)
    assert share["bounded"] and share["ci_low"] < share["mean"] < share["ci_high"]
    assert share["mean"] == pytest.approx((method - baseline).mean() / (oracle - baseline).mean())
    assert share["exceeds"] == ("yes" if share["ci_low"] > 0.5 else "no" if share["ci_high"] < 0.5 else "cannot tell")
    flat = statistics.recovered_share(method, baseline, baseline + 0.3 * rng.standard_normal((SEEDS, SAMPLES)))
    assert not flat["bounded"]  # the oracle's gain is not told from 0: no ceiling to share
