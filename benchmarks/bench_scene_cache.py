"""How much a study saves by sharing work between the runs of one seed: the scene cache
(``data.cache_dir``), the frozen trunk's features (``shared_features.TrainingFeatures``) and
FNAC's warm-up (``warmup``).

    python benchmarks/bench_scene_cache.py                    # study preset, 2 methods x 2 epochs x 32 steps
    python benchmarks/bench_scene_cache.py --methods ezvsl fnac oracle fnac_shuffled --steps 64

A study trains several methods on every seed, and each of them draws the same training scenes
(``fnac_lib.data.default.scene_cache``). Without the cache every run renders them in its loader
process, which shares the CPU with training; with it the first run renders each epoch once and
the others read memory maps. With a frozen visual trunk (the CPU presets' ImageNet
EfficientNet-Lite0) every run also feeds the trunk the same pixels at every step, so the first run
computes each batch's features and the others read them. FNAC's first ``train.warmup_epochs`` are
EZ-VSL's, step for step, so with warm-up forks EZ-VSL trains first and FNAC (and each FNAC term
alone) starts from its checkpoint at the end of the warm-up. The four variants run in this process,
one after the other, from the same seed, with validation off; the script prints each one's wall
time, the ratios, and checks that all trained the same weights (sharing must change nothing).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from fnac_lib.config import apply_overrides, preset
from fnac_lib.data.factory import make_dataset
from fnac_lib.shared_features import TrainingFeatures
from fnac_lib.training import train
from fnac_lib.warmup import Fork, source_first


def train_methods(config, methods: list[str], root: Path, shared: TrainingFeatures | None = None,
                  forks: bool = False) -> tuple[float, dict]:
    """Train each method in turn (as the study does; with ``forks`` EZ-VSL first, writing the
    others' checkpoints at the end of its warm-up); wall seconds and the final weights by method."""
    configs = {method: apply_overrides(config, {"train.method": method}) for method in methods}
    order = source_first(methods) if forks else methods
    weights = {}
    start = time.perf_counter()
    for method in order:
        others = [Fork(configs[other], root / other) for other in methods if other != method] if forks else []
        trainer = train(configs[method], root / method, make_dataset(configs[method], "train"), progress=False,
                        shared=shared, forks=others, resume=(root / method / "last.pt").exists())
        weights[method] = [p.detach().clone() for p in trainer.parts.model.parameters()]
    return time.perf_counter() - start, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="study")
    parser.add_argument("--methods", nargs="+", default=["ezvsl", "fnac"])
    parser.add_argument("--steps", type=int, default=32, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    base = preset(args.preset)
    base = apply_overrides(base, {"data.train_length": args.steps * base.train.batch_size, "train.epochs": args.epochs,
                                  "train.warmup_epochs": min(base.train.warmup_epochs, args.epochs - 1)})
    root = Path(tempfile.mkdtemp(prefix="bench-scene-cache-"))
    try:
        rendered, rendered_weights = train_methods(base, args.methods, root / "rendered")
        cached_config = apply_overrides(base, {"data.cache_dir": str(root / "scene-cache")})
        cached, cached_weights = train_methods(cached_config, args.methods, root / "cached")
        shared_config = apply_overrides(base, {"data.cache_dir": str(root / "scene-cache-2")})
        shared = TrainingFeatures()
        both, both_weights = train_methods(shared_config, args.methods, root / "shared", shared)
        forked_config = apply_overrides(base, {"data.cache_dir": str(root / "scene-cache-3")})
        forked_shared = TrainingFeatures()
        forked, forked_weights = train_methods(forked_config, args.methods, root / "forked", forked_shared, forks=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    same = all(torch.equal(a, b) for m in args.methods for other in (cached_weights, both_weights, forked_weights)
               for a, b in zip(rendered_weights[m], other[m], strict=True))
    runs = f"{len(args.methods)} runs ({', '.join(args.methods)}) x {args.epochs} epochs x {args.steps} steps"
    print(f"preset {args.preset}, batch {base.train.batch_size}, {torch.get_num_threads()} threads: {runs}")
    print(f"  scenes rendered by every run as it loads them:   {rendered:7.1f} s")
    print(f"  scenes rendered once per epoch (scene cache):    {cached:7.1f} s")
    print(f"  ... and frozen-trunk features shared:            {both:7.1f} s "
          f"({shared.hits} of {shared.hits + shared.misses} batches read)")
    print(f"  ... and FNAC's warm-up trained once (forks):    {forked:7.1f} s")
    print(f"  speed-up: scene cache {rendered / cached:.2f}x, with shared features {rendered / both:.2f}x, "
          f"with warm-up forks {rendered / forked:.2f}x ({both / forked:.2f}x over shared features alone); "
          f"same final weights: {same}")
    if not same:
        raise SystemExit("sharing work between the runs changed what was trained")


if __name__ == "__main__":
    main()
