"""Parity cases: mmcv's transformer bricks as visdet mirrors them (``PatchEmbed``,
``PatchMerging``, ``FFN``), with the options the Swin backbone does not use.

Each case builds mmcv's module under ``torch.manual_seed(seed)``, stores its weights
(``state.*``), and records the output and the gradients of ``<out, w>`` (``w`` from a
fixed generator) for the input and every parameter; float64. ``PatchEmbed`` also records
``init_out_size`` (the size an absolute position embedding is built for), exactly.
Train-mode cases seed torch's global RNG right before the forward pass (dropout draws).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, module_grads, state_entries
from parity.cases.base import Case, Tensors, register

_CLASSES = {"patch_embed": "PatchEmbed", "patch_merging": "PatchMerging", "ffn": "FFN"}


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {"x": torch.randn(tuple(params["shape"]), generator=generator)}


def _run(module: torch.nn.Module, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    module.train(params.get("train", False))
    x = inputs["x"].clone().requires_grad_(True)
    torch.manual_seed(params["seed"] + 1)
    if params["kind"] == "patch_merging":
        out, size = module(x, tuple(params["input_size"]))
    elif params["kind"] == "patch_embed":
        out, size = module(x)
    else:
        out, size = module(x), None
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    (out * weight).sum().backward()
    result = {"out": out.detach().clone(), "grad.input": x.grad.detach().clone(), **module_grads(module)}
    if size is not None:
        result["out_size"] = torch.tensor(size)
    if params["kind"] == "patch_embed":
        result["init_out_size"] = torch.tensor(module.init_out_size or (-1, -1))
    return result


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmcv.cnn.bricks import transformer

    torch.manual_seed(params["seed"])
    module = getattr(transformer, _CLASSES[params["kind"]])(**params["kwargs"])
    return {**state_entries(module), **_run(module, params, inputs)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models import layers

    module = getattr(layers, _CLASSES[params["kind"]])(**params["kwargs"])
    load_state(module, tensors)
    return _run(module, params, tensors)


_CASES = {
    "patch_embed/same_padding_default_stride": dict(
        kind="patch_embed", shape=[2, 3, 13, 18],
        kwargs=dict(in_channels=3, embed_dims=8, kernel_size=3, stride=None, padding="same", dilation=2,
                    norm_cfg={"type": "LN"}, input_size=[13, 18])),
    "patch_embed/int_padding_input_size": dict(
        kind="patch_embed", shape=[1, 4, 15, 11],
        kwargs=dict(in_channels=4, embed_dims=6, kernel_size=3, stride=2, padding=1, bias=False,
                    input_size=[15, 11])),
    "patch_embed/same_padding_rect_stride": dict(
        kind="patch_embed", shape=[1, 3, 9, 10],
        kwargs=dict(in_channels=3, embed_dims=4, kernel_size=3, stride=[2, 1], padding="same", input_size=[9, 10])),
    "patch_merging/int_padding": dict(
        kind="patch_merging", shape=[2, 35, 6], input_size=[5, 7],
        kwargs=dict(in_channels=6, out_channels=10, kernel_size=2, stride=2, padding=1, bias=True)),
    "patch_merging/asymmetric_pairs": dict(
        kind="patch_merging", shape=[2, 77, 4], input_size=[7, 11],
        kwargs=dict(in_channels=4, out_channels=6, kernel_size=[2, 3], stride=[2, 3], padding=[1, 0],
                    dilation=[1, 2])),
    "ffn/no_identity_no_dropout_layer": dict(
        kind="ffn", shape=[2, 9, 8],
        kwargs=dict(embed_dims=8, feedforward_channels=12, num_fcs=3, add_identity=False)),
    "ffn/dropout_layer_train": dict(
        kind="ffn", shape=[3, 10, 8], train=True,
        kwargs=dict(embed_dims=8, feedforward_channels=16, ffn_drop=0.2,
                    dropout_layer={"type": "Dropout", "drop_prob": 0.3})),
    "ffn/dropout_default_prob_train": dict(
        kind="ffn", shape=[2, 5, 4], train=True,
        kwargs=dict(embed_dims=4, feedforward_channels=6, dropout_layer={"type": "Dropout"})),
}
for _key, _params in _CASES.items():
    _module, _name = _key.split("/")
    register(Case(
        component=f"models/layers/{_module}", dtype="float64", name=_name, seed=70 + len(_key),
        params={**_params, "seed": 70 + len(_key)}, make_inputs=_inputs, reference=_reference, visdet=_visdet,
        exact=("out_size", "init_out_size"),
        description=f"mmcv's {_CLASSES[_params['kind']]} {_params['kwargs']}: output and gradients",
    ))
