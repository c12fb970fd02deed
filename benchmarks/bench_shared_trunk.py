"""How much scoring saves when runs share one frozen visual trunk: ``evaluate_runs`` with and without it.

    python benchmarks/bench_shared_trunk.py                   # cpu-demo preset, 2 runs, 400 heard test scenes
    python benchmarks/bench_shared_trunk.py --methods ezvsl fnac oracle fnac_shuffled --scenes 200

Runs trained with ``model.freeze_visual`` (the CPU demo's ImageNet EfficientNet-Lite0) keep the trunk
they started from, so on a test set its features are the same for all of them. ``evaluate_runs``
scores every run in one pass over a test set, computes each batch's trunk features and objectness maps
once and hands them to every run (``evaluation.predict_together``). This script
trains the runs briefly (the scores do not matter, only the work of scoring them), then scores them
on the heard objects test both ways in this process, prints each one's wall time and the ratio, and
checks that the two gave the same maps and scores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from fnac_lib import scoring
from fnac_lib.config import apply_overrides, preset
from fnac_lib.data import test_sets
from fnac_lib.data.factory import make_dataset
from fnac_lib.training import train


def score(runs: dict[str, Path], test: test_sets.TestSet, share: bool) -> tuple[float, list[dict], dict]:
    """Wall seconds, rows and predictions of scoring ``runs`` on ``test`` (objectness: the offline trunk)."""
    start = time.perf_counter()
    rows, predictions = scoring.evaluate_runs(runs, [test], objectness="efficientnet_lite0", progress=False,
                                              share_trunks=share)
    return time.perf_counter() - start, rows, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--methods", nargs="+", default=["ezvsl", "fnac"])
    parser.add_argument("--scenes", type=int, default=400, help="heard test scenes")
    args = parser.parse_args()

    base = preset(args.preset)
    if not base.model.freeze_visual:
        raise SystemExit(f"preset {args.preset} trains its visual trunk: there is nothing to share")
    base = apply_overrides(base, {"data.train_length": 2 * base.train.batch_size, "data.val_length": 8,
                                  "train.epochs": 1, "train.warmup_epochs": 0})
    root = Path(tempfile.mkdtemp(prefix="bench-shared-trunk-"))
    try:
        runs = {}
        for method in args.methods:
            config = apply_overrides(base, {"train.method": method})
            train(config, root / method, make_dataset(config, "train"), progress=False)
            runs[method] = root / method
        test = test_sets.default_test_set(base, "objects", "single", args.scenes, "heard")
        separate, separate_rows, separate_preds = score(runs, test, share=False)
        shared, shared_rows, shared_preds = score(runs, test, share=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    same = separate_rows == shared_rows and all(
        torch.equal(getattr(separate_preds[key], field), getattr(shared_preds[key], field))
        for key in separate_preds for field in ("av", "objectness", "img_emb", "aud_emb"))
    print(f"preset {args.preset}, {torch.get_num_threads()} threads: {len(runs)} runs ({', '.join(runs)}) "
          f"scored on {args.scenes} heard test scenes")
    print(f"  every run on its own:                {separate:6.1f} s")
    print(f"  one pass, shared trunk per batch:    {shared:6.1f} s")
    print(f"  speed-up: {separate / shared:.2f}x; same maps and scores: {same}")


if __name__ == "__main__":
    main()
