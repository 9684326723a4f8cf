"""Training checkpoints: save atomically, load safely, check they fit the model.

A training checkpoint is a dict with ``state_dict`` (the model, mmdet's key so
``visdet.load_checkpoint`` and mmdet read it), ``optimizer``, ``scheduler``, ``scaler``,
``rng`` (see :mod:`visdet.engine.rng_state`), ``epoch``, ``iter`` (optimizer steps
done), ``inner_iter`` (batches consumed in the current epoch) and ``meta`` (free-form,
with ``model_class``). It holds tensors and plain Python values only and is read with
``torch.load(weights_only=True)``.

Writes go to ``<path>.tmp`` in the same folder, are flushed and fsynced, then renamed
over ``<path>`` with ``os.replace`` (atomic on POSIX and Windows): a crash mid-write
leaves the previous checkpoint untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CheckpointMismatchError(ValueError):
    """A checkpoint does not belong to the model it is loaded into."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel``/``DataParallel`` wrapper (or itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` through a temporary file and an atomic rename.

    Args:
        obj: What to save.
        path: Destination; its folder is created.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a training checkpoint written by :func:`atomic_torch_save` (``weights_only=True``).

    Raises:
        FileNotFoundError: When ``path`` does not exist (the message names it).
        ValueError: When the file is not a training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint {str(path)!r} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a visdet training checkpoint (no 'state_dict' entry)")
    return dict(ckpt)


def check_model_matches(model: nn.Module, ckpt: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise :class:`CheckpointMismatchError` naming ``path`` when ``ckpt`` is for another model.

    Compares the model class recorded in ``meta`` and the state-dict keys and shapes.
    """
    model = unwrap_model(model)
    saved_class = ckpt.get("meta", {}).get("model_class")
    if saved_class is not None and saved_class != type(model).__name__:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} was written for a {saved_class}, not a {type(model).__name__}"
        )
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    saved = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    shapes = sorted(k for k in set(own) & set(saved) if own[k] != saved[k])
    if missing or unexpected or shapes:
        details = []
        if missing:
            details.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if shapes:
            details.append(f"{len(shapes)} shape mismatches (e.g. {shapes[0]}: {saved[shapes[0]]} vs {own[shapes[0]]})")
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} does not fit this model: " + "; ".join(details))
