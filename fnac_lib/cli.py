"""Command line: ``python -m fnac_lib train|evaluate|import-checkpoint|build-data|prepare ...`` (also ``fnac ...``).

Examples::

    python -m fnac_lib build-data
    python -m fnac_lib train --preset cpu-demo --method fnac --run-dir runs/fnac
    python -m fnac_lib train --preset cpu-demo --method fnac --run-dir runs/fnac --resume
    python -m fnac_lib evaluate --run-dir runs/fnac --objectness model
    torchrun --nproc_per_node=8 -m fnac_lib train --preset paper --set data.dataset=vggsound \\
        --set data.data_root=/data/vggsound --run-dir runs/paper-fnac
    python -m fnac_lib evaluate --run-dir runs/paper-fnac --benchmark vggss --data-root /data/vggss --skip-bad
    python -m fnac_lib import-checkpoint fnac_vggss144k/best.pth --run-dir runs/official-fnac-144k
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
from pathlib import Path

from .config import DEFAULT_DATA, apply_overrides, preset, preset_names
from .constants import OGL_ALPHA
from .data.default.scenes import VARIANTS
from .errors import ConfigError, WorkbookError, printable
from .cli_options import evaluation_data, fraction, parse_overrides, positive
from .files import check_writable, refuse_empty_paths, write_json
from .losses import METHODS
from .model import OBJECTNESS_SOURCES


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import check_run_dir
    from .config_checks import check_batch_split
    from .data.factory import make_dataset, make_validation_set
    from .device import resolve_device
    from .distributed import process_info
    from .training import train

    # Everything a user typed is checked before a dataset is built or a file written.
    config = preset(args.preset, **{"train.method": args.method, **parse_overrides(args.set)})
    check_batch_split(config.train.batch_size, process_info().world_size)
    resolve_device(config.train.device)
    check_run_dir(Path(args.run_dir), args.resume)
    train_set = make_dataset(config, "train")
    val_set = None if args.no_validation else make_validation_set(config)
    trainer = train(config, Path(args.run_dir), train_set, val_set, resume=args.resume, progress=not args.quiet)
    if trainer.parts.info.is_main:
        last = trainer.state.validation[-1] if trainer.state.validation else {}
        print(f"{config.train.method}: {trainer.state.global_step} steps into {args.run_dir}; last validation {last}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.factory import make_dataset
    from .device import loader_workers, resolve_device
    from .evaluation import evaluate
    from .model import objectness_trunk
    from .runs import checkpoint_path, load_model

    device = resolve_device(args.device, setting="--device")
    checkpoint = checkpoint_path(Path(args.run_dir), args.checkpoint)
    model, config = load_model(checkpoint, device)
    config = apply_overrides(config, {**evaluation_data(config, args), **parse_overrides(args.set)})
    if config.data.dataset not in DEFAULT_DATA and (args.length is not None or args.variant != "single"):
        raise ConfigError(f"--length and --variant choose default-data test scenes; {config.data.dataset} has its "
                          "own test list (its open-set test: the reader option extended_csv)")
    # The scores belong to the checkpoint scored: next to it, whichever run --run-dir names.
    out = Path(args.out) if args.out else checkpoint.parent / f"test_metrics_{config.data.dataset}_{args.variant}.json"
    check_writable(out)  # before the scoring, whose numbers a failed write would lose
    dataset = make_dataset(config, args.split, variant=args.variant)

    trunk = objectness_trunk(model, args.objectness, args.imagenet_weights)
    trunk = trunk.to(device) if trunk is not None else None
    scores, preds = evaluate(model, dataset, tau=config.train.tau, batch_size=args.batch_size, device=device,
                             objectness_trunk=trunk, alpha=args.ogl_alpha, progress=True, keep_maps=False,
                             num_workers=loader_workers(config.data.num_workers, device), amp=config.eval.amp,
                             settings=config.eval)
    if not scores:
        raise ConfigError(f"{config.data.dataset} {args.split}: no sample has a ground truth any protocol can score "
                          "(boxes, masks or silent pairs); evaluate on an annotated test set")
    empty = preds.empty_gt_ids()
    result = {"run_dir": str(checkpoint.parent), "checkpoint": str(checkpoint), "dataset": config.data.dataset,
              "split": args.split, "variant": args.variant, "eval": vars(config.eval),
              "reader_options": config.data.reader_options,
              "skipped": [list(item) for item in getattr(dataset, "skipped", [])],
              "empty_gt": {"rule": config.eval.empty_gt, "ids": empty}, "scores": scores}
    for line in score_lines(scores):  # printed first: a write that still fails loses no number
        print(line)
    if result["skipped"]:
        print(f"skipped {len(result['skipped'])} bad samples (listed in {out}); report that count with the numbers")
    if empty:
        fate = "left out of the cIoU counts" if config.eval.empty_gt == "drop" else "scored cIoU 0"
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        print(f"samples with an empty ground truth: {len(empty)}, {fate} (eval.empty_gt={config.eval.empty_gt}; "
              f"listed in {out}): {shown}")
    write_json(out, result)
    print(f"wrote {out}")
    return 0


def cmd_import_checkpoint(args: argparse.Namespace) -> int:
    from .official import import_official

    config = preset(args.preset, **{"train.method": args.method, **parse_overrides(args.set)})
    written = import_official(args.file, args.run_dir, config)
    print(f"imported {args.file} into {written}; score it with\n"
          f"  python -m fnac_lib evaluate --run-dir {args.run_dir} --benchmark vggss --data-root DIR "
          f"--objectness imagenet --skip-bad")
    return 0


def score_lines(scores: dict) -> list[str]:
    """One printed line per map and protocol of ``evaluation.summarize_scores``'s result, in percent."""
    def percent(values: dict, keys) -> str:
        return "  ".join(f"{key} {100 * values[key]:6.2f}" for key in keys) + f"  (n={values['n']})"

    lines = [f"{name:8s} " + percent(scores[name], ("cIoU", "AUC", "mean_cIoU", "pointing_game"))
             for name in ("av", "obj", "av_ogl") if name in scores]
    if "open_set" in scores:
        lines.append("open set " + percent(scores["open_set"], ("AP", "max_F1")))
    lines += [f"S4 {name:5s} " + percent(values, ("mIoU", "F_score")) for name, values in scores.get("s4", {}).items()]
    return lines


def cmd_build_data(args: argparse.Namespace) -> int:
    from .data.default.build import main_build

    return main_build(args.rest)


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data.benchmarks.prepare import main_prepare

    return main_prepare(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fnac_lib", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line (accepted after the command too)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train EZ-VSL or FNAC into a run directory")
    train.add_argument("--preset", default="cpu-demo", choices=preset_names(),
                       help="a file of fnac_lib/presets/ listing every value of the run")
    train.add_argument("--method", default="fnac", choices=METHODS)
    train.add_argument("--run-dir", required=True)
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override a config field, e.g. --set train.epochs=3 (repeatable)")
    train.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    train.add_argument("--no-validation", action="store_true", help="skip the per-epoch validation")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="score a trained run on a test set")
    evaluate.add_argument("--run-dir", required=True)
    evaluate.add_argument("--checkpoint", default="best",
                          help="best, last, or a checkpoint file (its scores are written next to it)")
    evaluate.add_argument("--benchmark", help="objects, digits, flickr, vggss, avsbench-s4, folder "
                                              "(default: the dataset the run trained on)")
    evaluate.add_argument("--data-root", help="root of a real benchmark")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    evaluate.add_argument("--variant", default="single", choices=VARIANTS, help="default data: which test scenes")
    evaluate.add_argument("--length", type=positive(int), help="default data: number of test scenes")
    evaluate.add_argument("--objectness", default="none", choices=tuple(OBJECTNESS_SOURCES),
                          help="trunk for object-guided localisation: the run's own visual trunk or ImageNet ResNet-18")
    evaluate.add_argument("--imagenet-weights", default="torch-cache", help="'torch-cache' or a resnet18 .pth file")
    evaluate.add_argument("--ogl-alpha", type=fraction, default=OGL_ALPHA,
                          help="OGL's weight of the AV map, in [0, 1]")
    evaluate.add_argument("--batch-size", type=positive(int), default=128)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", help="where to write the scores (JSON)")
    evaluate.add_argument("--reader-option", action="append", default=[], metavar="KEY=VALUE",
                          help="a keyword for the benchmark reader, e.g. subset=unheard, test_list=FILE, "
                               "extended_csv=metadata/slavc/flickr_test_plus_silent.csv, image_ext=.png (repeatable; "
                               "relative paths: under the data root, then the workbook's folder)")
    evaluate.add_argument("--skip-bad", action="store_true",
                          help="drop (and list) samples whose files are missing or unreadable: partial downloads")
    evaluate.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                          help="override the run's config, e.g. --set eval.av_upsample=bicubic (repeatable)")
    evaluate.set_defaults(func=cmd_evaluate)

    imports = commands.add_parser("import-checkpoint", help="turn a published FNAC / EZ-VSL / SLAVC checkpoint "
                                                            "into a workbook run")
    imports.add_argument("file", help="the official .pth file (its state dict, possibly under 'model')")
    imports.add_argument("--run-dir", required=True)
    imports.add_argument("--preset", default="paper", choices=preset_names(),
                         help="how the run is scored: 'paper' is the published front end and evaluation")
    imports.add_argument("--method", default="fnac", choices=METHODS, help="what the checkpoint was trained with")
    imports.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    imports.set_defaults(func=cmd_import_checkpoint)

    for name, func, text in (("build-data", cmd_build_data, "build the embedded default data"),
                             ("prepare", cmd_prepare, "extract frames and audio from raw videos")):
        # Their own parsers read the remaining arguments (data.default.build.main_build,
        # data.benchmarks.prepare.main_prepare).
        sub = commands.add_parser(name, help=text, add_help=False)
        sub.set_defaults(func=func, passes_arguments_on=True)
    return parser


def run(argv: list[str]) -> int:
    """Parse ``argv`` and run the command; errors propagate (``main`` turns them into one line)."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "passes_arguments_on", False):
        args.rest = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    refuse_empty_paths(args, ("run_dir", "checkpoint", "data_root", "out", "imagenet_weights", "file"))
    return args.func(args)


def one_line(error: BaseException) -> str:
    """An error as the one line the command line prints: the message, whitespace folded; a system
    error as ``file: reason``."""
    text = str(error)
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{printable(error.filename)}: {error.strerror}"
    return " ".join(text.split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """The command line. A refusal of the workbook (``WorkbookError``), a file the system would not
    read or write (``OSError``) or memory running out (GPU or CPU) prints one line naming the file or
    setting and exits 1; ``--debug`` shows the traceback instead. Anything else is a bug and keeps
    its traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        return run(argv)
    except KeyboardInterrupt:
        hint = "; --resume continues from the last checkpoint" if command == "train" else ""
        print(f"python -m fnac_lib {command}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - sorted below: what is not the user's to fix is re-raised
        if not isinstance(error, (WorkbookError, OSError, MemoryError)) and not _out_of_memory(error):
            raise
        if debug:
            traceback.print_exc()
        else:
            print(f"python -m fnac_lib {command}: error: {_explained(error, command)} [--debug shows the traceback]",
                  file=sys.stderr)
        return 1


def _explained(error: BaseException, command: str) -> str:
    """``one_line(error)`` with what to do about the errors whose remedy is a setting: memory, disk."""
    if _out_of_memory(error) == "device":
        return f"{one_line(error)} (lower train.batch_size or --batch-size)"
    if _out_of_memory(error) == "cpu":  # its text, from a loader worker, is a whole traceback: not shown
        return f"out of memory on the CPU {_memory_hint(error, command)}"
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) and command == "train":
        return f"{one_line(error)} (free some space; --resume then continues from the last whole checkpoint)"
    return one_line(error)


def _memory_hint(error: BaseException, command: str) -> str:
    """The setting that most likely asked for the memory: the frame side when a frame was being
    made (PIL, decoding, rendering), else the batch."""
    batch = "--batch-size" if command == "evaluate" else "train.batch_size"
    where = "".join(traceback.format_tb(error.__traceback__)) + str(error)  # a worker's traceback is its text
    if any(place in where for place in ("PIL", "decoding.py", "render.py")):
        return f"while making a frame: lower data.image_size (each frame is image_size x image_size pixels) or {batch}"
    return f"(lower {batch}, data.image_size or data.num_workers)"


def _out_of_memory(error: BaseException) -> str | None:
    """"device" for a full GPU, "cpu" for host memory running out (Python's ``MemoryError``, or
    torch's CPU allocator, which raises a ``RuntimeError``), else None."""
    import torch

    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "device"
    if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and
                                          "DefaultCPUAllocator: can't allocate memory" in str(error)):
        return "cpu"
    return None


if __name__ == "__main__":
    sys.exit(main())
