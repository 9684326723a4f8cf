"""Build leaf components from mmdet-shaped config dicts (``dict(type=..., **kwargs)``).

This is the config boundary: a ``type`` name picks a visdet class and the remaining
keys, mmdet's keyword names, become its keyword arguments. Unknown types and unknown
keys are errors that name the config path (``roi_head.bbox_head.loss_cls``), the key and
what would have been accepted. Keys that only steer mmdet's weight initialisation
(``init_cfg``, ``pretrained``) are dropped: visdet loads weights with ``load_checkpoint``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

# Keys that configure mmdet's initialisation only; they have no effect on the forward.
INIT_ONLY_KEYS = frozenset({"init_cfg", "pretrained"})


def _registry() -> dict[str, dict[str, Callable[..., Any]]]:
    """Type name -> class, per component kind (imported lazily, at the boundary only)."""
    from visdet.models.backbones import ResNet
    from visdet.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss
    from visdet.models.necks import FPN
    from visdet.models.task_modules import (
        AnchorGenerator,
        BboxOverlaps2D,
        DeltaXYWHBBoxCoder,
        MaxIoUAssigner,
        PseudoSampler,
        RandomSampler,
    )

    return {
        "backbone": {"ResNet": ResNet},
        "neck": {"FPN": FPN},
        "loss": {"CrossEntropyLoss": CrossEntropyLoss, "L1Loss": L1Loss, "SmoothL1Loss": SmoothL1Loss},
        "anchor_generator": {"AnchorGenerator": AnchorGenerator},
        "bbox_coder": {"DeltaXYWHBBoxCoder": DeltaXYWHBBoxCoder},
        "assigner": {"MaxIoUAssigner": MaxIoUAssigner},
        "sampler": {"RandomSampler": RandomSampler, "PseudoSampler": PseudoSampler},
        "iou_calculator": {"BboxOverlaps2D": BboxOverlaps2D},
    }


def config_type(cfg: Any, where: str) -> tuple[str, dict[str, Any]]:
    """Split ``cfg`` into its ``type`` and the other keys (a copy).

    Raises:
        TypeError: When ``cfg`` is not a mapping.
        KeyError: When ``type`` is missing.
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f"{where}: expected a config dict, got {type(cfg).__name__}")
    kwargs = dict(cfg)
    if "type" not in kwargs:
        raise KeyError(f"{where}: config has no 'type' key (keys: {sorted(kwargs)})")
    kind = kwargs.pop("type")
    if not isinstance(kind, str):
        raise TypeError(f"{where}: 'type' must be a class name string, got {kind!r}")
    return kind, kwargs


def check_keys(kwargs: Mapping[str, Any], accepted: set[str] | frozenset[str], where: str, what: str) -> None:
    """Raise ``KeyError`` naming every key of ``kwargs`` not in ``accepted``."""
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise KeyError(f"{where}: unknown keys {unknown} for {what} (accepted: {sorted(accepted)})")


def call_with(factory: Callable[..., Any], kwargs: Mapping[str, Any], where: str, what: str) -> Any:
    """Call ``factory(**kwargs)`` after checking the keys against its signature."""
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        check_keys(kwargs, {name for name in params if name != "self"}, where, what)
    return factory(**kwargs)


def build_component(cfg: Any, kind: str, where: str) -> Any:
    """Build one component of ``kind`` (``"loss"``, ``"sampler"``, ...) from ``cfg``.

    Args:
        cfg: ``dict(type=..., **kwargs)`` with mmdet's keyword names.
        kind: Which table the type is looked up in.
        where: Config path for error messages.

    Returns:
        The built object.
    """
    name, kwargs = config_type(cfg, where)
    table = _registry()[kind]
    if name not in table:
        raise ValueError(f"{where}: unsupported {kind} type {name!r} (supported: {sorted(table)})")
    for key in INIT_ONLY_KEYS:
        kwargs.pop(key, None)
    if kind == "assigner" and "iou_calculator" in kwargs:
        kwargs["iou_calculator"] = build_component(
            kwargs["iou_calculator"], "iou_calculator", f"{where}.iou_calculator"
        )
    if kind == "sampler" and name == "PseudoSampler":
        kwargs.pop("context", None)
    return call_with(table[name], kwargs, where, name)
