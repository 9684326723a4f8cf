"""Load mmdet and visdet checkpoints into a model, safely.

Files are read with ``torch.load(..., weights_only=True)``: no code from the file runs.
Accepted layouts:

* a bare state dict (``{name: Tensor}``), as ``torch.save(model.state_dict())`` writes;
* a checkpoint dict with a ``"state_dict"`` entry (mmdet/mmengine) or a ``"model"``
  entry; ``"module."`` prefixes left by (Distributed)DataParallel are stripped.

mmengine checkpoints also carry training state (``message_hub``, ``meta``) holding
objects of mmengine/numpy classes that ``weights_only`` refuses. Those names are
replaced by inert placeholders (their state is dropped, nothing is called), because
only the tensors of the state dict are used.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from visdet.download import download, is_url

STATE_DICT_KEYS = ("state_dict", "model")
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global")
_GLOBAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# Safety valve: a checkpoint needing more placeholders than this is not a checkpoint.
MAX_PLACEHOLDERS = 64


class _Placeholder:
    """Stands in for a class or function a checkpoint names but visdet does not trust.

    Calling it, constructing it or setting its state does nothing; the object is inert.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> _Placeholder:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _PlaceholderGetattr(_Placeholder):
    """Stands in for ``builtins.getattr`` (numpy pickles call methods through it).

    It returns the placeholder class itself, which the unpickler may call, so a later
    call on "the attribute" makes another inert placeholder.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        return _Placeholder


# The placeholder class is allowlisted under its own name so that values returned by
# ``_PlaceholderGetattr`` may be called during unpickling.
_BASE_STUBS: list[tuple[type, str]] = [(_Placeholder, f"{__name__}._Placeholder")]


@dataclass
class LoadResult:
    """What ``load_checkpoint`` found.

    Attributes:
        missing_keys: Model keys the checkpoint did not have.
        unexpected_keys: Checkpoint keys the model does not have.
        placeholders: Untrusted globals replaced by inert placeholders while reading.
        meta: The checkpoint's ``meta`` dict (mmengine writes ``dataset_meta`` with the
            class names there), or an empty dict.
    """

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _stub(name: str) -> tuple[type, str]:
    """A fresh inert placeholder class registered under the global ``name``."""
    base = _PlaceholderGetattr if name == "builtins.getattr" else _Placeholder
    return type(name.rsplit(".", 1)[-1], (base,), {}), name


def _torch_load(path: str, map_location: str | torch.device) -> tuple[Any, list[str]]:
    """``torch.load`` with ``weights_only=True``, stubbing untrusted globals one by one."""
    stubs: list[tuple[type, str]] = []
    try:  # zip checkpoints can be scanned up front, saving one read per untrusted name
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) format or unreadable: discover names while loading
        names = []
    for name in names[:MAX_PLACEHOLDERS]:
        if _GLOBAL_NAME.fullmatch(name):  # a corrupt file may name anything; those fail below
            stubs.append(_stub(name))
    while True:
        try:
            with torch.serialization.safe_globals(_BASE_STUBS + stubs):
                return torch.load(path, map_location=map_location, weights_only=True), [n for _, n in stubs]
        except pickle.UnpicklingError as err:
            match = _UNSUPPORTED_GLOBAL.search(str(err))
            name = match.group(1) if match else None
            if name is not None and "." not in name:
                name = f"builtins.{name}"  # torch's message drops the builtins prefix
            if name is None or len(stubs) >= MAX_PLACEHOLDERS or not _GLOBAL_NAME.fullmatch(name):
                raise ValueError(f"{path!r} could not be read as a weights-only checkpoint: {err}") from err
            if any(existing == name for _, existing in stubs):
                raise ValueError(f"{path!r}: cannot read past untrusted global {name!r}: {err}") from err
            stubs.append(_stub(name))
        except Exception as err:
            # torch raises many types on files that are not checkpoints: RuntimeError (truncated
            # zip), struct.error / EOFError (junk), KeyError, IndexError, AttributeError...
            raise ValueError(f"{path!r} is not a PyTorch checkpoint file: {type(err).__name__}: {err}") from err


def _dtype_kind(tensor: Tensor) -> str:
    if tensor.is_floating_point():
        return "floating point"
    if tensor.is_complex():
        return "complex"
    return "bool" if tensor.dtype == torch.bool else "integer"


def tensor_mismatches(own: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> list[str]:
    """Keys present in both whose shapes differ or whose dtypes are of another kind.

    Floating-point tensors of any precision load into floating-point parameters (fp16
    checkpoints are legitimate, ``load_state_dict`` casts them); an integer, bool or
    complex tensor where the model has a floating one (or the reverse) is refused.

    Returns:
        One ``"key: ..."`` line per mismatch, in the model's key order.
    """
    errors = []
    for key, mine in own.items():
        if key not in state:
            continue
        theirs = state[key]
        if theirs.shape != mine.shape:
            errors.append(f"{key}: checkpoint shape {tuple(theirs.shape)} vs model {tuple(mine.shape)}")
        elif _dtype_kind(theirs) != _dtype_kind(mine):
            errors.append(f"{key}: checkpoint dtype {theirs.dtype} vs model {mine.dtype}")
    return errors


def extract_state_dict(checkpoint: Any, path: str = "<checkpoint>") -> OrderedDict[str, Tensor]:
    """The model weights inside a loaded checkpoint object.

    Args:
        checkpoint: What ``torch.load`` returned.
        path: Used in error messages.

    Returns:
        An ordered ``{name: Tensor}`` with any ``"module."`` prefixes removed.

    Raises:
        ValueError: When no state dict of tensors is found.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{path!r} does not hold a checkpoint dict (got {type(checkpoint).__name__})")
    state = checkpoint
    for key in STATE_DICT_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            state = checkpoint[key]
            break
    if not state:
        raise ValueError(f"{path!r} holds an empty state dict")
    out: OrderedDict[str, Tensor] = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise ValueError(f"{path!r}: state dict key {name!r} is a {type(name).__name__}, not a string")
        if not isinstance(value, Tensor):
            raise ValueError(
                f"{path!r} is not a checkpoint: entry {name!r} is a {type(value).__name__}, not a tensor "
                f"(looked for a state dict under {list(STATE_DICT_KEYS)} or at the top level)"
            )
        while name.startswith("module."):
            name = name[len("module.") :]
        out[name] = value
    return out


def load_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    strict: bool = True,
    map_location: str | torch.device = "cpu",
    sha256: str | None = None,
) -> LoadResult:
    """Load the weights in ``path`` into ``model``.

    Args:
        model: The module to fill, e.g. a ``FasterRCNN``.
        path: An mmdet/mmengine checkpoint (``.pth``) or a saved visdet state dict, or
            an ``http(s)://`` URL of one, downloaded once into the cache and verified
            (:func:`visdet.download.download`: the hash in mmdet's file names, or ``sha256``).
        strict: Require the keys to match exactly (the default; mmdet and visdet keys are
            identical for the same config). With ``strict=False`` the mismatches are
            returned instead.
        map_location: Where tensors are loaded.
        sha256: For a URL: the file's SHA-256 (or a prefix of 8+ hex digits) to check.

    Returns:
        A ``LoadResult`` with missing/unexpected keys (empty when strict) and the names of
        untrusted globals that were replaced by placeholders.

    Raises:
        FileNotFoundError: When ``path`` does not exist.
        DownloadError: When a URL cannot be downloaded or fails its hash (an ``OSError``).
        ValueError: When the file is not a checkpoint (junk, truncated, a pickle naming
            globals it cannot read past, a ``state_dict`` that is not a dict of tensors),
            when shapes or dtype kinds do not match, or (strict) when keys are missing or
            unexpected; the message names the file and the keys.
    """
    if is_url(path):
        path = download(path, sha256=sha256)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    checkpoint, placeholders = _torch_load(path, map_location)
    state = extract_state_dict(checkpoint, path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    tensor_errors = tensor_mismatches(own, state)
    if tensor_errors:
        raise ValueError(
            f"{path!r}: shape mismatch or dtype mismatch for {len(tensor_errors)} keys: "
            + "; ".join(tensor_errors[:20])
        )
    if strict and (missing or unexpected):
        raise ValueError(
            f"{path!r} does not match {type(model).__name__}: "
            f"{len(missing)} missing keys {missing[:20]}, {len(unexpected)} unexpected keys {unexpected[:20]}"
        )
    model.load_state_dict(state, strict=False)
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    return LoadResult(
        missing_keys=missing,
        unexpected_keys=unexpected,
        placeholders=placeholders,
        meta=dict(meta) if isinstance(meta, dict) else {},
    )


def read_state_dict(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> OrderedDict[str, Tensor]:
    """The model weights in the checkpoint file ``path``, read weights-only.

    Raises:
        FileNotFoundError: When ``path`` does not exist.
        ValueError: When the file is not a checkpoint or holds no state dict of tensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    checkpoint, _ = _torch_load(path, map_location)
    return extract_state_dict(checkpoint, path)
