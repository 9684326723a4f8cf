"""Parity cases: the seeded initialisation of backbones, necks and dense heads equals mmdet's.

A user training from scratch starts from ``init_weights``. The reference builds mmdet's
module under ``torch.manual_seed(seed)`` and runs its ``init_weights()`` (what mmengine's
runner does); visdet builds the same config under the same seed, then calls
``init_weights()`` where visdet keeps it a separate step (the backbones and necks; the
dense heads initialise at the end of their constructor). Both consume the same draws in
the same order, so every entry of the ``state_dict`` is compared. The live counterpart of
the heads is ``parity/test_dense_head_init_live.py``; these goldens let the check run (and
the mutation run see it) without mmdet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

COMPONENT = "models/init/seeded"
_POINTS = {"type": "MlvlPointGenerator", "offset": 0, "strides": [8, 16, 32]}
_SYNC = {"norm_cfg": {"type": "BN"}, "act_cfg": {"type": "SiLU", "inplace": True}}


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    # the case draws nothing: its input is the seed; the golden stores it for the record
    return {"seed": torch.tensor([params["init_seed"]], dtype=torch.int64)}


def _state(module: torch.nn.Module) -> Tensors:
    return {f"init.{k}": v.detach().float().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(params["init_seed"])
    module = MODELS.build(dict(params["cfg"]))
    module.init_weights()
    return _state(module)


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component

    torch.manual_seed(params["init_seed"])
    module = build_component(params["kind"], dict(params["cfg"]))
    if params["visdet_init_call"]:
        module.init_weights()
    return _state(module)


def _init_case(name: str, kind: str, cfg: dict[str, Any], visdet_init_call: bool, description: str) -> None:
    register(
        Case(
            component=COMPONENT,
            name=name,
            params={"kind": kind, "cfg": cfg, "init_seed": 7, "visdet_init_call": visdet_init_call},
            make_inputs=_inputs,
            reference=_reference,
            visdet=_visdet,
            description=description,
        )
    )


_init_case(
    "swin_abs_pos",
    "backbone",
    {"type": "SwinTransformer", "pretrain_img_size": 32, "embed_dims": 16, "depths": [1, 1], "num_heads": [2, 4],
     "window_size": 4, "mlp_ratio": 2, "strides": [4, 2], "out_indices": [0, 1], "use_abs_pos_embed": True},
    True,
    "SwinTransformer init: truncated normal (std 0.02) absolute position embedding and Linears, zero biases, "
    "LayerNorms 1/0, relative position bias tables left zero",
)
_init_case(
    "cspnext_p5",
    "backbone",
    {"type": "CSPNeXt", "arch": "P5", "deepen_factor": 0.167, "widen_factor": 0.125, "out_indices": [2, 3, 4],
     "channel_attention": True, **_SYNC},
    True,
    "CSPNeXt init: mmdet's default Kaiming-uniform init_cfg on every Conv2d, biases zero",
)
_init_case(
    "cspnext_pafpn",
    "neck",
    {"type": "CSPNeXtPAFPN", "in_channels": [8, 16, 32], "out_channels": 8, "num_csp_blocks": 1,
     "expand_ratio": 0.5, **_SYNC},
    True,
    "CSPNeXtPAFPN init: the same Kaiming-uniform init_cfg",
)
_init_case(
    "rtmdet_sepbn_head",
    "dense_head",
    {"type": "RTMDetSepBNHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2, "feat_channels": 8,
     "anchor_generator": _POINTS, "bbox_coder": {"type": "DistancePointBBoxCoder"},
     "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0},
     "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0}, "with_objectness": True, **_SYNC},
    False,
    "RTMDetSepBNHead init: normal(0, 0.01) convs, the classifier bias at the 0.01 prior, objectness too",
)
_init_case(
    "rtmdet_ins_sepbn_head",
    "dense_head",
    {"type": "RTMDetInsSepBNHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2, "feat_channels": 8,
     "num_prototypes": 4, "dyconv_channels": 4, "num_dyconvs": 2,
     "anchor_generator": _POINTS, "bbox_coder": {"type": "DistancePointBBoxCoder"},
     "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0},
     "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0},
     "loss_mask": {"type": "DiceLoss", "loss_weight": 2.0, "eps": 5e-6, "reduction": "mean"}, **_SYNC},
    False,
    "RTMDetInsSepBNHead init: the SepBN towers, kernel and mask-feature convs",
)
