"""mmdet's default weight init of CSPNeXt and CSPNeXtPAFPN (their ``init_cfg``).

Both declare ``init_cfg=dict(type='Kaiming', layer='Conv2d', a=sqrt(5), distribution='uniform',
mode='fan_in', nonlinearity='leaky_relu')``: mmengine redraws every ``nn.Conv2d`` with
torch's default conv weight init and zeroes its bias, after construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import nn

from visdet.models.layers.weight_init import kaiming_init

#: mmdet's ``init_cfg`` of CSPNeXt and CSPNeXtPAFPN: torch's default conv init (Kaiming
#: uniform, a = sqrt(5), fan_in) on every Conv2d, biases zero.
KAIMING_INIT_CFG: Mapping[str, Any] = MappingProxyType(
    {
        "type": "Kaiming",
        "layer": "Conv2d",
        "a": math.sqrt(5),
        "distribution": "uniform",
        "mode": "fan_in",
        "nonlinearity": "leaky_relu",
    }
)


def check_init_cfg(init_cfg: Mapping[str, Any] | None, owner: str) -> dict[str, Any] | None:
    """``init_cfg`` as a plain dict; only mmdet's default, ``None`` or a ``Pretrained`` record are accepted."""
    if init_cfg is None:
        return None
    plain = dict(init_cfg)
    if plain != dict(KAIMING_INIT_CFG) and plain.get("type") != "Pretrained":
        raise NotImplementedError(f"{owner} init_cfg {plain!r} is not supported (mmdet's default, None or Pretrained)")
    return plain


def init_convs_as_mmdet(module: nn.Module, init_cfg: Mapping[str, Any] | None, owner: str) -> None:
    """Run mmdet's default ``init_weights`` of CSPNeXt / CSPNeXtPAFPN on ``module``.

    mmengine applies the ``Kaiming`` ``init_cfg`` to every ``nn.Conv2d`` in module order
    (the children are containers without ``init_weights`` of their own), so one seed gives
    mmdet's weights. ``init_cfg=None`` keeps the construction-time init.
    """
    if init_cfg is None:
        return
    if init_cfg.get("type") == "Pretrained":
        raise NotImplementedError(
            f"{owner} init_cfg {dict(init_cfg)!r}: load the checkpoint with visdet's checkpoint loader "
            "instead of init_weights()"
        )
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d):
            kaiming_init(sub, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu", distribution="uniform")
