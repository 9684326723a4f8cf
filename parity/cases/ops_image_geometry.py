"""Parity case: ``imtranslate`` with one border value per channel (mmcv's ``imtranslate``).

The mask structures call it with a single border value; a colour image takes a tuple
with one value per channel. Inputs: a uint8 image drawn from the seed; the output is
compared exactly (OpenCV's ``warpAffine`` on both sides, same matrix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    return {"img": torch.randint(0, 256, tuple(p["shape"]), generator=gen, dtype=torch.uint8)}


def _call(fn: Any, p: Mapping[str, Any], t: Tensors) -> Tensors:
    out = fn(t["img"].numpy().copy(), p["offset"], p["direction"], tuple(p["border"]), p["interpolation"])
    return {"out": torch.from_numpy(out.copy())}


def _ref(p: Mapping[str, Any], t: Tensors) -> Tensors:
    import mmcv

    return _call(mmcv.imtranslate, p, t)


def _vis(p: Mapping[str, Any], t: Tensors) -> Tensors:
    from visdet.ops.image_geometry import imtranslate

    return _call(imtranslate, p, t)


register(Case(
    component="ops/imtranslate", name="per_channel_border", seed=64,
    params={"shape": [19, 23, 3], "offset": -7.5, "direction": "horizontal", "border": [10, 200, 77],
            "interpolation": "bilinear"},
    make_inputs=_inputs, reference=_ref, visdet=_vis, exact=("out",),
    description="imtranslate of a 3-channel image by -7.5 px with a per-channel border (10, 200, 77)",
))
