"""Parity cases for RTMDet's CSPNeXt backbone, CSPNeXtPAFPN neck and CSPLayer: outputs and gradients in float64.

Each case builds mmdet's module under ``torch.manual_seed(seed)``, runs its default
``init_weights`` (the Kaiming-uniform ``init_cfg``), gives the norm layers and conv biases
non-trivial values (``backbones_necks._randomise_state``), rounds every floating entry of
the state to a float32 value and stores it as float32 (the model runs in float64; this
halves the golden), and records as the ResNet/FPN cases do:

* ``out.<i>``: the outputs of one forward pass in the case's mode;
* ``grad.input`` (``grad.input.<l>`` for the neck) and ``grad.param.<name>``: gradients of
  sum_i <out_i, w_i> with w_i drawn from a generator seeded with ``grad_seed`` + i
  (frozen parameters have none);
* ``after.<buffer>``: running statistics after a train-mode pass (frozen and
  ``norm_eval`` layers keep theirs, the others move).

Widths are reduced well below RTMDet-tiny's (``widen_factor`` 0.03125 against 0.375: at
0.125 one case alone would be ~3 MB) with tiny's
``deepen_factor`` 0.167 (one block per CSP layer), so every layer kind (stem, stride-2
convs, CSPNeXt blocks with 5x5 depthwise convs, channel attention, SPP) is present at a
few hundred KB per golden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from parity.cases.backbones_necks import _grad_seed, _load_state, _randomise_state, _run, _state_entries
from parity.cases.base import Case, Tensors, register

CSPNEXT_COMPONENT = "models/backbones/cspnext"
CSP_LAYER_COMPONENT = "models/layers/csp_layer"
PAFPN_COMPONENT = "models/necks/cspnext_pafpn"
#: RTMDet's configs: ``norm_cfg=dict(type='SyncBN')``, ``act_cfg=dict(type='SiLU', inplace=True)``.
RTMDET_LAYERS = {"norm_cfg": {"type": "SyncBN"}, "act_cfg": {"type": "SiLU", "inplace": True}}


def _prepare(model: nn.Module, seed: int) -> Tensors:
    """mmdet's init, then non-trivial norms and biases, then float32-representable state (returned as float32)."""
    model.init_weights()
    _randomise_state(model, seed)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.float())
    return {k: (v.float() if v.is_floating_point() else v) for k, v in _state_entries(model).items()}


# --------------------------------------------------------------------------- CSPNeXt
def _cspnext_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {
        "input": torch.randn(tuple(params["input_shape"]), generator=generator),
        "grad_seed": _grad_seed(generator),
    }


def _reference_class(params: Mapping[str, Any]) -> type[nn.Module]:
    if params.get("layer") == "CSPLayer":
        from mmdet.models.layers.csp_layer import CSPLayer

        return CSPLayer
    from mmdet.models.backbones.cspnext import CSPNeXt

    return CSPNeXt


def _visdet_class(params: Mapping[str, Any]) -> type[nn.Module]:
    if params.get("layer") == "CSPLayer":
        from visdet.models.layers import CSPLayer

        return CSPLayer
    from visdet.models.backbones import CSPNeXt

    return CSPNeXt


def _cspnext_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    model = _reference_class(params)(**params["kwargs"])
    state = _prepare(model, params["seed"] + 1)
    # a CSPLayer returns one tensor, which _run enumerates by image: out.<n> is image n's map
    outputs = _run(model, [inputs["input"]], False, int(inputs["grad_seed"]), params["mode"])
    return {**state, **outputs}


def _cspnext_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    model = _visdet_class(params)(**params["kwargs"])
    _load_state(model, tensors)
    return _run(model, [tensors["input"]], False, int(tensors["grad_seed"]), params["mode"])


def _cspnext_case(name: str, kwargs: dict[str, Any], mode: str, seed: int, input_shape: Sequence[int],
                  description: str, layer: str = "") -> None:  # fmt: skip
    params = {"kwargs": kwargs, "mode": mode, "seed": seed, "input_shape": list(input_shape)}
    register(
        Case(
            component=CSP_LAYER_COMPONENT if layer else CSPNEXT_COMPONENT,
            dtype="float64",
            name=name,
            params={**params, "layer": layer} if layer else params,
            make_inputs=_cspnext_inputs,
            reference=_cspnext_reference,
            visdet=_cspnext_visdet,
            seed=seed,
            description=description,
        )
    )


_cspnext_case(
    "p5_tiny_syncbn_train",
    {"deepen_factor": 0.167, "widen_factor": 0.03125, "out_indices": [1, 2, 3, 4], **RTMDET_LAYERS},
    "train",
    61,
    (2, 3, 48, 32),
    "P5 with tiny's depth (one block per stage) as RTMDet's configs build it (SyncBN, SiLU inplace), channel "
    "attention, SPP (5, 9, 13); train mode on one process: SyncBN is batch norm with batch statistics, running "
    "statistics updated with momentum 0.1; stages 1-4",
)
_cspnext_case(
    "p5_depthwise_eval",
    {"deepen_factor": 0.33, "widen_factor": 0.03125, "use_depthwise": True, "expand_ratio": 0.75,
     "spp_kernel_sizes": [3, 5], "out_indices": [0, 2, 4]},
    "eval",
    63,
    (1, 3, 40, 56),
    "use_depthwise (depthwise-separable stride-2 convs and block conv1), mmdet's default BN (momentum 0.03, eps "
    "1e-3) and SiLU, two blocks in stages 2-3, expand_ratio 0.75, SPP kernels (3, 5), the stem among the outputs",
)  # fmt: skip
_cspnext_case(
    "p6_frozen1_normeval_train",
    {"arch": "P6", "deepen_factor": 0.167, "widen_factor": 0.03125, "frozen_stages": 1, "norm_eval": True,
     "channel_attention": False, "out_indices": [2, 3, 4, 5]},
    "train",
    64,
    (1, 3, 66, 40),
    "P6 (five stages, strides 8-64) without channel attention, stem and stage 1 frozen, norm_eval in train mode: "
    "no gradients for the frozen parameters, no running statistic moves; odd sizes round up at each stride",
)  # fmt: skip

_cspnext_case(
    "arch_ovewrite_three_stages_eval",
    {"arch_ovewrite": [[64, 96, 1, True, False], [96, 128, 2, False, False], [128, 192, 1, False, True]],
     "deepen_factor": 1.0, "widen_factor": 0.0625, "out_indices": [1, 2, 3], **RTMDET_LAYERS},
    "eval",
    66,
    (1, 3, 32, 24),
    "arch_ovewrite replacing P5's table: three stages (widths 6/8/12, two blocks in stage 2 without identity, SPP "
    "in the last), eval mode",
)  # fmt: skip


_cspnext_case(
    "darknet_blocks_depthwise_attention_train",
    {"in_channels": 6, "out_channels": 8, "num_blocks": 2, "use_depthwise": True, "channel_attention": True},
    "train",
    65,
    (2, 6, 12, 10),
    "CSPLayer with mmdet's defaults otherwise (DarknetBottleneck blocks with identity, BN momentum 0.03 eps 1e-3, "
    "Swish), depthwise-separable 3x3 convs and channel attention, train mode",
    layer="CSPLayer",
)


# --------------------------------------------------------------------------- CSPNeXtPAFPN
def _pafpn_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    size, batch = params["size"], params["batch"]
    tensors = {
        f"input.{i}": torch.randn((batch, c, size[0] >> i, size[1] >> i), generator=generator)
        for i, c in enumerate(params["kwargs"]["in_channels"])
    }
    tensors["grad_seed"] = _grad_seed(generator)
    return tensors


def _pafpn_levels(params: Mapping[str, Any], tensors: Tensors) -> list[torch.Tensor]:
    return [tensors[f"input.{i}"] for i in range(len(params["kwargs"]["in_channels"]))]


def _pafpn_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.necks.cspnext_pafpn import CSPNeXtPAFPN

    torch.manual_seed(params["seed"])
    model = CSPNeXtPAFPN(**params["kwargs"])
    state = _prepare(model, params["seed"] + 1)
    outputs = _run(model, _pafpn_levels(params, inputs), True, int(inputs["grad_seed"]), params["mode"])
    return {**state, **outputs}


def _pafpn_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.necks import CSPNeXtPAFPN

    model = CSPNeXtPAFPN(**params["kwargs"])
    _load_state(model, tensors)
    return _run(model, _pafpn_levels(params, tensors), True, int(tensors["grad_seed"]), params["mode"])


def _pafpn_case(name: str, kwargs: dict[str, Any], mode: str, seed: int, size: Sequence[int], batch: int,
                description: str) -> None:  # fmt: skip
    register(
        Case(
            component=PAFPN_COMPONENT,
            dtype="float64",
            name=name,
            params={"kwargs": kwargs, "mode": mode, "seed": seed, "size": list(size), "batch": batch},
            make_inputs=_pafpn_inputs,
            reference=_pafpn_reference,
            visdet=_pafpn_visdet,
            seed=seed,
            description=description,
        )
    )


_pafpn_case(
    "tiny_like_eval",
    {"in_channels": [8, 16, 32], "out_channels": 8, "num_csp_blocks": 1, **RTMDET_LAYERS},
    "eval",
    71,
    (16, 12),
    1,
    "three levels as RTMDet-tiny's neck (one block per CSP layer, SyncBN, SiLU), eval mode",
)
_pafpn_case(
    "four_levels_depthwise_swish_train",
    {"in_channels": [4, 8, 16, 32], "out_channels": 4, "num_csp_blocks": 2, "use_depthwise": True,
     "expand_ratio": 0.75},
    "train",
    72,
    (16, 8),
    1,
    "four levels, mmdet's defaults (BN momentum 0.03 eps 1e-3, Swish), depthwise-separable downsamples, two blocks "
    "per CSP layer, expand_ratio 0.75, train mode",
)  # fmt: skip
