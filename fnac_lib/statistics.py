"""Statistics of a multi-seed study (notebook 06): means, paired differences between methods and the
share of the oracle's gain a method recovers, with intervals whose coverage is shown by simulation.

Every reported localisation metric is a mean of one number per test sample:

* ``cIoU`` (the field's AP50): 1 where the sample's cIoU >= 0.5;
* ``AUC``: the area under the success curve, sum over thresholds t of mean_i [cIoU_i >= t] times
  the trapezoid weight of t, equals the mean over samples of each sample's own trapezoid sum;
* ``pointing_game`` and ``listening``: 1 where the map's peak lands on the sounding object.

So a study's scores of one method on one test set are an (S seeds, N samples) matrix x, and a
difference between two methods is the matrix of their differences (paired: same seed, same initial
weights and data order, same test scenes). Its mean varies with the seeds (a new seed, or the same
seed on another processor, trains another model: a seed effect a_s shared by all samples) and with
the test scenes (a scene effect b_i shared by all seeds), plus what is left (e_si):

    x[s, i] = mu + a_s + b_i + e_si,   Var(mean) = var(a) / S + var(b) / N + var(e) / (S N).

The two-way mean squares estimate it without bias: MS_seed = N var_s(row means) has expectation
N var(a) + var(e), MS_scene = S var_i(column means) has S var(b) + var(e), and the residual MS_err
has var(e); so Var(mean) = (MS_seed + MS_scene - MS_err) / (S N). The scene part is kept only where
it is positive (``max(MS_scene - MS_err, 0)``), which never makes the interval narrower than a
t-interval over the seeds' own means. The interval is mean +- t * sqrt(Var(mean)) with
Satterthwaite's degrees of freedom, about S - 1 when the seeds dominate: with 5 seeds t is 2.78,
not 1.96. ``tests/test_statistics.py`` simulates studies with known differences and noise of the
sizes the study measures and checks that 95% intervals cover the truth 93-97% of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .metrics import AUC_THRESHOLDS

CONFIDENCE = 0.95  # level of every interval
SHARE_GRID = np.linspace(-10.0, 10.0, 8001)  # the shares a Fieller interval is looked for among


def auc_weights(thresholds=AUC_THRESHOLDS) -> np.ndarray:
    """Trapezoid weight of each threshold: AUC = sum_t w_t * mean_i [cIoU_i >= t]."""
    steps = np.diff(thresholds)
    weights = np.zeros(len(thresholds))
    weights[:-1] += steps / 2
    weights[1:] += steps / 2
    return weights


def per_sample(cious: np.ndarray, pointing: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-sample contributions whose means are the reported metrics: ``cIoU``, ``AUC`` and, with
    ``pointing`` (1 where the peak lands on the ground truth), ``pointing_game``."""
    cious = np.asarray(cious, dtype=np.float64)
    values = {"cIoU": (cious >= 0.5).astype(np.float64),
              "AUC": (cious[..., None] >= AUC_THRESHOLDS).astype(np.float64) @ auc_weights()}
    if pointing is not None:
        values["pointing_game"] = np.asarray(pointing, dtype=np.float64)
    return values


@dataclass(frozen=True)
class Spread:
    """How the mean of an (S, N) score matrix varies: its variance and the degrees of freedom of
    that estimate, and the sizes of the parts (standard deviations of a seed's, a scene's and the
    residual effect), which say what a rerun on another machine, or another test set, would move."""

    variance: float  # Var(mean) estimated from the mean squares
    df: float  # Satterthwaite's degrees of freedom of ``variance``
    seed_sd: float  # sd of a_s: how far one seed's model lies from the average model
    scene_sd: float  # sd of b_i
    residual_sd: float  # sd of e_si


def spread(values: np.ndarray) -> Spread:
    """``Spread`` of the mean of ``values`` (S seeds, N samples); one seed: the scenes alone."""
    values = np.asarray(values, dtype=np.float64)
    seeds, samples = values.shape
    if samples < 2:
        raise ValueError(f"a study needs at least two test samples per seed, got {samples}")
    if seeds == 1:  # a reference map: the mean over scenes, a t-interval over them
        ms_scene = values.var(ddof=1)
        return Spread(ms_scene / samples, samples - 1.0, 0.0, float(np.sqrt(ms_scene)), 0.0)
    grand = values.mean()
    seed_means, scene_means = values.mean(axis=1), values.mean(axis=0)  # (S,), (N,)
    ms_seed = samples * np.sum((seed_means - grand) ** 2) / (seeds - 1)
    ms_scene = seeds * np.sum((scene_means - grand) ** 2) / (samples - 1)
    residual = values - seed_means[:, None] - scene_means[None, :] + grand
    df_err = (seeds - 1) * (samples - 1)
    ms_err = np.sum(residual**2) / df_err
    scene_part = max(ms_scene - ms_err, 0.0)
    variance = (ms_seed + scene_part) / (seeds * samples)
    # Satterthwaite: the variance is a sum of mean squares c_k MS_k, each with its own df.
    terms = [(ms_seed, seeds - 1)] + ([(ms_scene, samples - 1), (ms_err, df_err)] if scene_part > 0 else [])
    denominator = sum(ms**2 / df for ms, df in terms)
    numerator = (ms_seed + scene_part) ** 2
    df = numerator / denominator if denominator > 0 else float(seeds - 1)
    return Spread(float(variance), float(df), float(np.sqrt(max(ms_seed - ms_err, 0.0) / samples)),
                  float(np.sqrt(scene_part / seeds)), float(np.sqrt(ms_err)))


def estimate(values: np.ndarray, confidence: float = CONFIDENCE,
             bounds: tuple[float, float] = (-np.inf, np.inf)) -> dict[str, float]:
    """``{mean, ci_low, ci_high, se, df}`` of the mean of ``values`` (S, N); the interval is cut to
    ``bounds``, the values the mean can take (a rate lies in [0, 1]), which loses no coverage."""
    values = np.asarray(values, dtype=np.float64)
    found = spread(values)
    se = float(np.sqrt(found.variance))
    half = stats.t.ppf(0.5 + confidence / 2, found.df) * se
    mean = float(values.mean())
    low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "se": se, "df": found.df}


def paired_difference(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, float]:
    """``estimate`` of a - b, taken seed by seed and sample by sample (same seeds, same scenes), and
    how many seeds put ``a`` ahead."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have one shape (seeds, samples), got {a.shape} and {b.shape}")
    return {**estimate(a - b, confidence, bounds=(-1.0, 1.0)), "seeds_positive": int(((a - b).mean(axis=1) > 0).sum()),
            "seeds": int(a.shape[0])}


def excludes_zero(interval: dict) -> bool:
    """True when an interval lies wholly above or wholly below 0: a difference the seeds agree on."""
    return interval["ci_low"] > 0 or interval["ci_high"] < 0


def recovered_share(method: np.ndarray, baseline: np.ndarray, oracle: np.ndarray, threshold: float = 0.5,
                    confidence: float = CONFIDENCE) -> dict:
    """How much of the oracle's gain over the baseline a method recovers, (m - b) / (o - b).

    The interval is Fieller's: the shares r for which the paired difference (m - b) - r (o - b) is
    not told from 0 (its ``estimate`` interval holds 0). It may be unbounded (the oracle's gain is
    itself not told from 0), and then it says so. ``exceeds`` answers "more than ``threshold`` of the
    gain?" from the same test at r = threshold: "yes" when the margin (m - b) - threshold (o - b) is
    above 0, "no" when below, "cannot tell" when its interval holds 0, and "no oracle gain" when the
    oracle does not beat the baseline on average: then there is no ceiling to take a share of.
    """
    gain = np.asarray(method, dtype=np.float64) - baseline
    oracle_gain = np.asarray(oracle, dtype=np.float64) - baseline
    margin = estimate(gain - threshold * oracle_gain, confidence)
    exceeds = "yes" if margin["ci_low"] > 0 else "no" if margin["ci_high"] < 0 else "cannot tell"
    if oracle_gain.mean() <= 0:
        exceeds = "no oracle gain"
    kept = [r for r in SHARE_GRID if not excludes_zero(estimate(gain - r * oracle_gain, confidence))]
    bounded = bool(kept) and bool(kept[0] > SHARE_GRID[0] and kept[-1] < SHARE_GRID[-1])
    contiguous = bool(kept) and len(kept) == round((kept[-1] - kept[0]) / (SHARE_GRID[1] - SHARE_GRID[0])) + 1
    share = gain.mean() / oracle_gain.mean() if oracle_gain.mean() != 0 else float("nan")
    low, high = (float(kept[0]), float(kept[-1])) if bounded and contiguous else (float("-inf"), float("inf"))
    return {"mean": float(share), "ci_low": low, "ci_high": high, "bounded": bool(bounded and contiguous),
            "threshold": threshold, "margin": margin, "exceeds": exceeds}
