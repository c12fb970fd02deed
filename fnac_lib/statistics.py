"""Statistics of a multi-seed study (notebook 06): means and bootstrap intervals over seeds and
test samples, paired differences between methods, and the share of the oracle's gain recovered.

Every reported localisation metric is a mean of one number per test sample:

* ``cIoU`` (the field's AP50): 1 where the sample's cIoU >= 0.5;
* ``AUC``: the area under the success curve, sum over thresholds t of mean_i [cIoU_i >= t] times
  the trapezoid weight of t, equals the mean over samples of each sample's own trapezoid sum;
* ``pointing_game`` and ``listening``: 1 where the map's peak lands on the sounding object.

So a study's scores are a (seeds, samples) matrix per method and test set, and the bootstrap
resamples both levels: seeds with replacement, then test samples with replacement. Every run is
scored on the same test scenes, so one draw of sample indices serves all seeds and methods of a
replicate, and a difference between two methods is taken seed by seed (paired: same seed, same
initial weights and data order) before it is averaged.
"""

from __future__ import annotations

import numpy as np

from .metrics import AUC_THRESHOLDS

CONFIDENCE = 0.95  # level of every interval
N_BOOTSTRAP = 2000  # bootstrap replicates


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


def resample_indices(n_seeds: int, n_samples: int, n_boot: int = N_BOOTSTRAP,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seed indices (R, S) and sample indices (R, N) of ``n_boot`` bootstrap replicates, each
    drawn with replacement; fixing ``seed`` makes every interval of a study reproducible.

    The two levels come from separate streams, so every score of one test set (N samples) shares
    its sample draws, whatever its number of seeds (a reference map has one).
    """
    seeds = np.random.default_rng([seed, 0]).integers(0, n_seeds, (n_boot, n_seeds))
    samples = np.random.default_rng([seed, 1]).integers(0, n_samples, (n_boot, n_samples))
    return seeds, samples


def replicate_means(values: np.ndarray, draws: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The mean of ``values`` (S seeds, N samples) in each replicate of ``draws``: (R,)."""
    seeds, samples = draws
    per_seed = values[:, samples].mean(axis=2).T  # (R, S): each seed on its replicate's samples
    return np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1)  # (R,): drawn seeds averaged


def interval(replicates: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (NaN replicates left out)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def estimate(values: np.ndarray, draws: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """``{mean, ci_low, ci_high}`` of the mean of ``values`` (S, N) over seeds and samples."""
    values = np.asarray(values, dtype=np.float64)
    low, high = interval(replicate_means(values, draws))
    return {"mean": float(values.mean()), "ci_low": low, "ci_high": high}


def paired_difference(a: np.ndarray, b: np.ndarray, draws: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """``estimate`` of a - b, taken seed by seed and sample by sample (same seeds, same scenes)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have one shape (seeds, samples), got {a.shape} and {b.shape}")
    return {**estimate(a - b, draws), "seeds_positive": int(((a - b).mean(axis=1) > 0).sum()),
            "seeds": int(a.shape[0])}


def recovered_share(method: np.ndarray, baseline: np.ndarray, oracle: np.ndarray,
                    draws: tuple[np.ndarray, np.ndarray], threshold: float = 0.5) -> dict[str, float]:
    """How much of the oracle's gain over the baseline a method recovers, (m - b) / (o - b).

    The ratio is unstable when the oracle gains little, so the decision whether the method
    recovers more than ``threshold`` of the gain rests on the difference (m - b) - threshold (o - b),
    whose interval is well behaved: ``exceeds`` is "yes" when that interval lies above 0, "no"
    when it lies below, "cannot tell" when it contains 0, and "no oracle gain" when the oracle does
    not beat the baseline on average: then there is no ceiling to take a share of, and a method no
    better than the baseline would clear "half of a loss" for nothing.
    """
    gain = np.asarray(method, dtype=np.float64) - baseline
    oracle_gain = np.asarray(oracle, dtype=np.float64) - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = replicate_means(gain, draws) / replicate_means(oracle_gain, draws)
    margin = estimate(gain - threshold * oracle_gain, draws)
    low, high = interval(ratios)
    exceeds = "yes" if margin["ci_low"] > 0 else "no" if margin["ci_high"] < 0 else "cannot tell"
    if oracle_gain.mean() <= 0:
        exceeds = "no oracle gain"
    share = gain.mean() / oracle_gain.mean() if oracle_gain.mean() != 0 else float("nan")
    return {"mean": float(share), "ci_low": low, "ci_high": high, "threshold": threshold,
            "margin": margin, "exceeds": exceeds}
