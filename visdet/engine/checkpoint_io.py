"""Training checkpoints: save atomically, load safely, check they fit the model.

A training checkpoint is a dict with ``state_dict`` (the model, mmdet's key so
``visdet.load_checkpoint`` and mmdet read it), ``optimizer``, ``scheduler``, ``scaler``,
``rng`` (see :mod:`visdet.engine.rng_state`), ``epoch``, ``iter`` (optimizer steps
done), ``inner_iter`` (batches consumed in the current epoch) and ``meta`` (free-form,
with ``model_class``). It holds tensors and plain Python values only and is read with
``torch.load(weights_only=True)``.

Writes go to a temporary file in the same folder, are flushed and fsynced, then renamed
over ``<path>`` with ``os.replace`` (atomic on POSIX and Windows): a crash or a full disk
mid-write leaves the previous checkpoint untouched. Every problem with a file being read
is a ``ValueError`` naming it (:class:`CheckpointMismatchError`, a ``ValueError``, when
it is a checkpoint of another model).
"""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from visdet.checkpoint import tensor_mismatches


class CheckpointMismatchError(ValueError):
    """A checkpoint does not belong to the model it is loaded into."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel``/``DataParallel`` wrapper (or itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` through a temporary file and an atomic rename.

    The temporary file (``.<name>.<random>.tmp``) is created in the destination's folder,
    so the rename never crosses file systems; it is flushed and fsynced before
    ``os.replace``, and the folder is fsynced after it (where the OS allows), so after a
    crash either the old or the new checkpoint is there, complete. On any error (a full
    disk: ``OSError(ENOSPC)``) the temporary file is removed, the previous checkpoint is
    left as it was and the error propagates. Temporary files left by a process killed
    while writing this checkpoint are removed after the next successful save.

    Args:
        obj: What to save.
        path: Destination; its folder is created.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    # a process killed mid-write (SIGKILL, power loss) cannot remove its temporary file;
    # the next successful save of the same checkpoint does
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fail(path: Path, message: str) -> ValueError:
    return ValueError(f"resume checkpoint {str(path)!r}: {message}")


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a training checkpoint written by :func:`atomic_torch_save` (``weights_only=True``).

    Nothing in the file is executed: a pickle naming any global outside torch's
    weights-only allowlist is refused. The layout is checked: ``state_dict`` a dict of
    tensors with string keys; ``optimizer``, ``rng`` and ``meta`` dicts when present;
    ``epoch``, ``iter`` and ``inner_iter`` non-negative ints.

    Raises:
        FileNotFoundError: When ``path`` does not exist (the message names it).
        ValueError: When the file is not a visdet training checkpoint (junk, a truncated
            zip, a pickle with globals, a wrong layout); the message names the file and
            the offending key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise _fail(path, f"refused to unpickle (weights_only): {first}") from err
    except Exception as err:  # torch raises struct.error, RuntimeError, EOFError... on junk
        raise _fail(path, f"not a PyTorch checkpoint file ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a visdet training checkpoint (no 'state_dict' entry)")
    state = ckpt["state_dict"]
    if not isinstance(state, Mapping):
        raise _fail(path, f"'state_dict' must be a dict of tensors, got {type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str):
            raise _fail(path, f"'state_dict' key {key!r} is a {type(key).__name__}, not a string")
        if not isinstance(value, torch.Tensor):
            raise _fail(path, f"'state_dict' entry {key!r} is a {type(value).__name__}, not a tensor")
    for key in ("optimizer", "rng", "meta"):
        if key in ckpt and ckpt[key] is not None and not isinstance(ckpt[key], Mapping):
            raise _fail(path, f"{key!r} must be a dict, got {type(ckpt[key]).__name__}")
    for key in ("epoch", "iter", "inner_iter"):
        value = ckpt.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(path, f"{key!r} must be a non-negative int, got {value!r}")
    return dict(ckpt)


def check_model_matches(model: nn.Module, ckpt: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise :class:`CheckpointMismatchError` naming ``path`` when ``ckpt`` is for another model.

    Compares the model class recorded in ``meta`` and the state-dict keys, shapes and
    dtype kinds (floating point, integer, bool, complex).
    """
    model = unwrap_model(model)
    saved_class = (ckpt.get("meta") or {}).get("model_class")
    if saved_class is not None and saved_class != type(model).__name__:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} was written for a {saved_class}, not a {type(model).__name__}"
        )
    own = model.state_dict()
    saved = ckpt["state_dict"]
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    tensors = tensor_mismatches(own, saved)
    if missing or unexpected or tensors:
        details = []
        if missing:
            details.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if tensors:
            details.append(f"{len(tensors)} shape/dtype mismatches (e.g. {tensors[0]})")
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} does not fit this model: " + "; ".join(details))
