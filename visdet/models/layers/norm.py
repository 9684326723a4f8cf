"""Normalisation layers built from an mmdet-style ``norm_cfg``.

``build_norm_layer`` returns ``(name, layer)`` where ``name`` is the attribute name mmcv
would give the layer (``bn``, ``gn``, ``ln``, ``in`` plus a postfix such as ``1``), so a
module that registers the layer under that name has mmdet's ``state_dict`` keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

#: A norm config: an mmdet dict such as ``{"type": "GN", "num_groups": 32}`` or a
#: callable ``num_features -> nn.Module`` (timm-style ``norm_layer``).
NormConfig = Mapping[str, Any] | Callable[[int], nn.Module]

# ``SyncBN`` maps onto torch's SyncBatchNorm, as in mmcv: without an initialised process
# group it runs plain batch norm (so CPU and single-process runs are BN), and its
# state_dict keys are those of BatchNorm2d.
NORM_TYPES: Mapping[str, type[nn.Module]] = {
    "BN": nn.BatchNorm2d,
    "BN1d": nn.BatchNorm1d,
    "BN2d": nn.BatchNorm2d,
    "BN3d": nn.BatchNorm3d,
    "SyncBN": nn.SyncBatchNorm,
    "GN": nn.GroupNorm,
    "LN": nn.LayerNorm,
    "IN": nn.InstanceNorm2d,
    "IN1d": nn.InstanceNorm1d,
    "IN2d": nn.InstanceNorm2d,
    "IN3d": nn.InstanceNorm3d,
}

# mmcv sets eps=1e-5 explicitly when the config does not give one.
DEFAULT_EPS = 1e-5


def norm_abbreviation(norm_type: type[nn.Module]) -> str:
    """The attribute-name prefix mmcv uses for a norm layer class.

    Args:
        norm_type: A normalisation layer class.

    Returns:
        ``"in"``, ``"bn"``, ``"gn"``, ``"ln"`` by base class, else by class name, else
        ``"norm_layer"``.
    """
    if not isinstance(norm_type, type):
        raise TypeError(f"norm_type must be a class, got {type(norm_type).__name__}")
    explicit = getattr(norm_type, "_abbr_", None)
    if isinstance(explicit, str):
        return explicit
    for base, abbr in (
        (_InstanceNorm, "in"),
        (_BatchNorm, "bn"),
        (nn.GroupNorm, "gn"),
        (nn.LayerNorm, "ln"),
    ):
        if issubclass(norm_type, base):
            return abbr
    lowered = norm_type.__name__.lower()
    for word, abbr in (("batch", "bn"), ("group", "gn"), ("layer", "ln"), ("instance", "in")):
        if word in lowered:
            return abbr
    return "norm_layer"


def build_norm_layer(cfg: NormConfig, num_features: int, *, postfix: int | str = "") -> tuple[str, nn.Module]:
    """Build a normalisation layer and the attribute name mmcv would register it under.

    Args:
        cfg: ``{"type": <one of NORM_TYPES>, "requires_grad": bool (optional), ...}``;
            the remaining keys go to the layer's constructor (``num_groups`` is required
            for ``GN``). A callable ``num_features -> nn.Module`` is accepted too.
        num_features: Channels C of the (N, C, ...) input.
        postfix: Appended to the name, e.g. ``1`` gives ``bn1``.

    Returns:
        ``(name, layer)``, e.g. ``("bn1", BatchNorm2d(C))``.

    Raises:
        TypeError: ``cfg`` is neither a mapping nor a callable, or ``postfix`` has a bad type.
        ValueError: unknown ``type``, or ``GN`` without ``num_groups``.
    """
    if not isinstance(postfix, (int, str)):
        raise TypeError(f"postfix must be an int or str, got {type(postfix).__name__}")
    if isinstance(cfg, Mapping):
        layer = _build_from_mapping(cfg, num_features)
    elif callable(cfg):
        layer = cfg(num_features)
        if not isinstance(layer, nn.Module):
            raise TypeError(f"norm_cfg callable returned {type(layer).__name__}, not nn.Module")
    else:
        raise TypeError(f"norm_cfg must be a mapping or a callable, got {type(cfg).__name__}")
    return norm_abbreviation(type(layer)) + str(postfix), layer


def _build_from_mapping(cfg: Mapping[str, Any], num_features: int) -> nn.Module:
    if "type" not in cfg:
        raise ValueError(f"norm_cfg needs a 'type' key, got keys {sorted(cfg)}")
    options = dict(cfg)
    layer_type = options.pop("type")
    if isinstance(layer_type, type):
        norm_type = layer_type
    elif layer_type in NORM_TYPES:
        norm_type = NORM_TYPES[layer_type]
    else:
        raise ValueError(f"norm_cfg type {layer_type!r} is not supported; choose from {sorted(NORM_TYPES)}")
    requires_grad = bool(options.pop("requires_grad", True))
    options.setdefault("eps", DEFAULT_EPS)
    if issubclass(norm_type, nn.GroupNorm):
        if "num_groups" not in options:
            raise ValueError("norm_cfg of type 'GN' needs 'num_groups'")
        layer = norm_type(num_channels=num_features, **options)
    else:
        layer = norm_type(num_features, **options)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


def batch_norms_to_eval(module: nn.Module) -> None:
    """Put every batch-norm layer in ``module`` in eval mode (mmdet's ``norm_eval``: running stats frozen).

    Only ``_BatchNorm`` subclasses (BN, SyncBN) are affected, as in mmdet; GroupNorm and
    LayerNorm have no running statistics.
    """
    for sub in module.modules():
        if isinstance(sub, _BatchNorm):
            sub.eval()
