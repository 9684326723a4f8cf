"""Parity cases: visdet's BatchNorm folding (``visdet.models.fuse``) against mmdet's unfused modules.

mmdet's ``ResNet`` / mmcv's ``ConvModule`` are built under ``torch.manual_seed(seed)`` with
non-trivial BatchNorm statistics and affine parameters and run in eval mode; visdet loads
the same weights, runs ``fuse_for_inference`` and must give the same outputs.
``folded_norms`` is compared with the number of BatchNorms that act directly on a
convolution's output, counted on the reference module (every BatchNorm of a ResNet; a
``ConvModule``'s norm when ``order`` puts it right after the conv), exactly.

float64 (folding is done in float64, so the fused outputs agree to rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from parity.cases._heads_detector_common import load_state, state_entries
from parity.cases.base import Case, Tensors, register


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {"x": torch.randn(tuple(params["shape"]), generator=generator)}


def _kwargs(params: Mapping[str, Any]) -> dict:
    kwargs = dict(params["kwargs"])
    if "order" in kwargs:
        kwargs["order"] = tuple(kwargs["order"])
    return kwargs


def _randomise_norms(module: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, _BatchNorm):
                n = sub.num_features
                sub.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                sub.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                sub.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                sub.bias.copy_(torch.randn(n, generator=gen) * 0.2)


def _outputs(out: Any) -> Tensors:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return {f"out.{i}": o.detach().clone() for i, o in enumerate(outs)}


def _norms_after_conv(module: nn.Module, params: Mapping[str, Any]) -> int:
    if params["kind"] == "conv_module":
        order = list(params["kwargs"].get("order", ["conv", "norm", "act"]))
        return int(order.index("norm") == order.index("conv") + 1)
    return sum(isinstance(sub, _BatchNorm) for sub in module.modules())  # each ResNet norm follows its conv


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    if params["kind"] == "resnet":
        from mmdet.models.backbones import ResNet

        module = ResNet(**_kwargs(params))
    else:
        from mmcv.cnn import ConvModule

        module = ConvModule(**_kwargs(params))
    _randomise_norms(module, params["seed"] + 1)
    state = state_entries(module)
    module.eval()
    with torch.no_grad():
        out = module(inputs["x"].clone())
    return {**state, **_outputs(out), "folded_norms": torch.tensor(_norms_after_conv(module, params))}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.backbones import ResNet
    from visdet.models.fuse import fuse_for_inference
    from visdet.models.layers import ConvModule

    module = (ResNet if params["kind"] == "resnet" else ConvModule)(**_kwargs(params))
    load_state(module, tensors)
    fuse_for_inference(module)
    with torch.no_grad():
        out = module(tensors["x"].clone())
    return {**_outputs(out), "folded_norms": torch.tensor(module.visdet_fused.folded_norms)}


_BN = {"type": "BN", "requires_grad": True}
_CASES = {
    "models/fuse/resnet50_one_stage": dict(
        kind="resnet",
        shape=[1, 3, 20, 24],
        kwargs=dict(depth=50, num_stages=1, strides=[1], dilations=[1], out_indices=[0], base_channels=4),
    ),
    "models/fuse/resnet18_deep_stem_avg_down": dict(
        kind="resnet",
        shape=[1, 3, 20, 24],
        kwargs=dict(
            depth=18,
            num_stages=2,
            strides=[1, 2],
            dilations=[1, 1],
            out_indices=[0, 1],
            base_channels=4,
            deep_stem=True,
            avg_down=True,
        ),
    ),
    "models/fuse/conv_module_norm_first": dict(
        kind="conv_module",
        shape=[1, 4, 6, 7],
        kwargs=dict(
            in_channels=4, out_channels=4, kernel_size=3, padding=1, norm_cfg=_BN, order=["norm", "conv", "act"]
        ),
    ),
    "models/fuse/conv_module_conv_norm_act": dict(
        kind="conv_module",
        shape=[1, 4, 6, 7],
        kwargs=dict(in_channels=4, out_channels=5, kernel_size=3, padding=1, norm_cfg=_BN),
    ),
    "models/fuse/conv_module_circular_dilated": dict(
        kind="conv_module",
        shape=[1, 3, 7, 9],
        kwargs=dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, dilation=2, padding_mode="circular",
                    norm_cfg=_BN),
    ),
}
for _i, (_key, _params) in enumerate(_CASES.items()):
    _component, _name = _key.rsplit("/", 1)
    register(Case(
        component=_component, dtype="float64", name=_name, seed=90 + _i,
        params={**_params, "seed": 90 + _i}, make_inputs=_inputs, reference=_reference, visdet=_visdet,
        exact=("folded_norms",),
        description=f"fuse_for_inference on {_params['kind']} {_params['kwargs']}: eval outputs of mmdet's unfused "
        "module, and the number of folded norms",
    ))  # fmt: skip
