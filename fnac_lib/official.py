"""Checkpoints of the published code (FNAC_AVL, EZ-VSL, SLAVC) as workbook runs (README,
"Reproducing the paper").

The official module (FNAC_AVL ``model.py``) holds ``imgnet`` (a torchvision ResNet-18 whose
``avgpool`` and ``fc`` are identities), ``img_proj`` (1x1 conv 512 -> D), ``audnet`` (a ResNet-18
with a 1-channel ``conv1``, max pooling and an identity ``fc``) and ``aud_proj`` (linear 512 -> D).
Its training script saves ``{'model': state_dict, 'optimizer': ..., 'epoch': ..., 'best_cIoU': ...,
'best_Auc': ...}``, the keys prefixed ``module.`` when saved from DistributedDataParallel. Each of
its 244 tensors has one place in ``model.AVModel`` (``workbook_key``), so an import is a renaming:
the workbook's forward pass on the same input computes the same features (``tests/test_official.py``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .checkpoint import save_checkpoint
from .config import RunConfig
from .errors import CheckpointError
from .files import write_json
from .model import RESNET_INDEX, AVModel

TRUNKS = {"imgnet": "visual.trunk", "audnet": "audio.trunk"}
PROJECTIONS = {"img_proj": "visual.projection", "aud_proj": "audio.projection"}
# numpy scalars (best_cIoU, best_Auc) pickled by numpy 1.x and 2.x: allowed beside tensors, nothing else.
_NUMPY_SCALAR = np._core.multiarray.scalar
SAFE_GLOBALS = [_NUMPY_SCALAR, (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"), np.dtype,
                *(type(np.dtype(code)) for code in "fdiq?")]


def workbook_key(key: str) -> str | None:
    """The ``AVModel`` state-dict key of an official key (``module.`` already removed), or None."""
    head, _, rest = key.partition(".")
    if head in PROJECTIONS:
        return f"{PROJECTIONS[head]}.{rest}"
    child, _, tail = rest.partition(".")
    if head in TRUNKS and child in RESNET_INDEX:
        return f"{TRUNKS[head]}.{RESNET_INDEX[child]}.{tail}"
    return None


def read_official(path) -> tuple[dict[str, torch.Tensor], dict]:
    """The official state dict in a checkpoint file (plain, or under ``model`` / ``state_dict``,
    ``module.`` prefixes removed) and the file's other scalar entries (``epoch``, ``best_cIoU``...).

    Loaded with ``weights_only=True``: tensors, numbers and numpy scalars only, no code runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a truncated zip, a foreign pickle: the same answer
        first = str(error).splitlines()[0].split(". ")[0]  # torch appends paragraphs of advice on unpickling
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint of tensors ({type(error).__name__}: "
                              f"{first})") from error
    wrapper = next((k for k in ("model", "state_dict") if isinstance(saved, dict) and isinstance(saved.get(k), dict)),
                   None)
    state = saved[wrapper] if wrapper else saved
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: holds no state dict (expected a dict of tensors, or one under 'model')")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    if not any(k.split(".")[0] in {*TRUNKS, *PROJECTIONS} for k in state):
        raise CheckpointError(f"{path}: not an FNAC / EZ-VSL / SLAVC checkpoint: no imgnet.*, audnet.*, img_proj.* "
                              f"or aud_proj.* keys (first keys: {sorted(state)[:4]})")
    extra = {k: v.item() if isinstance(v, np.generic) else v for k, v in saved.items()
             if isinstance(v, (int, float, np.generic))} if wrapper else {}
    return state, extra


def to_workbook(state: dict[str, torch.Tensor], model: AVModel, path) -> dict[str, torch.Tensor]:
    """``model``'s state dict with every official tensor in its place; ``CheckpointError`` naming
    the file for a key without a place, a tensor of another shape, or a weight the file lacks."""
    target = model.state_dict()
    mapped, unplaced = {}, []
    for key, value in state.items():
        name = workbook_key(key)
        if name is None or name not in target:
            unplaced.append(key)
        elif not isinstance(value, torch.Tensor) or value.shape != target[name].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(f"{path}: {key} has shape {shape}, the model expects {tuple(target[name].shape)} "
                                  f"at {name} (the official model is a pair of ResNet-18s)")
        else:
            mapped[name] = value
    lacking = [k for k in target if k not in mapped and not k.startswith("frontend.")]
    if unplaced or lacking:
        raise CheckpointError(f"{path}: does not fit the official FNAC model: {len(unplaced)} keys without a place "
                              f"{unplaced[:4]}, {len(lacking)} weights missing {lacking[:4]}")
    return {**target, **mapped}


def import_official(path, run_dir, config: RunConfig) -> Path:
    """Turn an official checkpoint into a finished workbook run in ``run_dir`` (``config.json``,
    ``last.pt``, ``metrics.json``) that ``evaluate``, ``runs.load_model`` and the notebooks use.

    ``config`` describes how the run is to be scored (the ``paper`` preset: the published front
    end and evaluation maps); its embedding size is taken from the file.
    """
    path, run_dir = Path(path), Path(run_dir)
    if (run_dir / "last.pt").exists():
        raise FileExistsError(f"{run_dir / 'last.pt'} exists: import into an empty run directory")
    state, extra = read_official(path)
    projection = state.get("img_proj.weight")
    embed_dim = int(projection.shape[0]) if isinstance(projection, torch.Tensor) and projection.ndim == 4 \
        else config.model.embed_dim
    config = replace(config, model=replace(config.model, embed_dim=embed_dim,
                                           imagenet_weights=None))  # every weight comes from the file
    model = AVModel(config.model, config.audio)
    model.load_state_dict(to_workbook(state, model, path))
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    epochs = config.train.epochs
    save_checkpoint(run_dir / "last.pt", {
        "model": model.state_dict(), "config": config.to_dict(), "epoch": epochs, "step_in_epoch": 0,
        "global_step": 0, "imported_from": {"file": str(path.resolve()), **extra},
    })
    write_json(run_dir / "metrics.json", {"method": config.train.method, "global_step": 0, "history": [],
                                          "validation": [], "imported_from": str(path.resolve())})
    return run_dir / "last.pt"
