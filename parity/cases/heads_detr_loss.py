"""Parity cases for the DETR family's losses: DeformableDETRHead's and DINOHead's ``loss_by_feat``.

This module holds the machinery and the DETR / Deformable DETR cases; DINO's are in
``heads_dino_loss.py``.

The reference builds mmdet's ``DeformableDETRHead`` / ``DINOHead`` (small ``embed_dims``,
a few classes, the loss and matching settings of mmdet's Deformable DETR and DINO
configs) and calls ``loss_by_feat`` on random decoder outputs: class logits
``[L, B, Q, C]`` and boxes ``[L, B, Q, 4]`` (normalised cxcywh), encoder outputs for the
two-stage variants, and ``dn_meta`` for DINO (the denoising queries first, as the decoder
returns them). visdet runs its loss mixins
(:mod:`visdet.models.dense_heads.detr_loss`, :mod:`visdet.models.dense_heads.dino_loss`)
on a small host module with the same settings, built through visdet's config boundary
(the heads themselves are built elsewhere).

Recorded: every loss term under mmdet's names; the gradients of ``sum_k w_k * term_k``
(fixed distinct weights, so no term's error can hide in another's) w.r.t. the class
logits, the boxes and the encoder outputs; and the last decoder layer's targets (labels
exact, normalised box targets) and, for DINO, the denoising targets. float64 on both sides:
a loss sums over every query and class.

Batches mix image sizes and hold an image without gt; variants cover
``sync_cls_avg_factor`` on and off (on: ``loss_cls`` has shape ``[1]``, as mmdet's),
more gts than queries, one or three denoising groups, and a batch without any gt (DINO
then has no denoising query at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from parity.cases.base import Case, Tensors, register

COMPONENT = "models/dense_heads/detr_loss"
SHAPES = [[40, 56], [64, 48], [32, 32]]

_COSTS = [{"type": "FocalLossCost", "weight": 2.0}, {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
          {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]  # fmt: skip


def _loss_cfgs(p: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {"loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25,
                         "loss_weight": p["cls_weight"]},
            "loss_bbox": {"type": "L1Loss", "loss_weight": 5.0},
            "loss_iou": {"type": "GIoULoss", "loss_weight": 2.0}}  # fmt: skip


def _cxcywh(n: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    centre = torch.rand(*n, 2, generator=gen) * 0.8 + 0.1
    size = torch.rand(*n, 2, generator=gen) * 0.4 + 0.05
    return torch.cat([centre, size], -1)


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    layers, c = p["num_layers"], p["num_classes"]
    b = len(p["img_shapes"])
    q = p["num_queries"] + _num_dn(p)
    out = {"cls_scores": torch.randn(layers, b, q, c, generator=gen) * 2, "bbox_preds": _cxcywh((layers, b, q), gen)}
    if p.get("enc"):
        num_enc = p.get("num_enc", p["num_queries"])
        out["enc_cls_scores"] = torch.randn(b, num_enc, c, generator=gen) * 2
        out["enc_bbox_preds"] = _cxcywh((b, num_enc), gen)
    for i, ((h, w), g) in enumerate(zip(p["img_shapes"], p["num_gts"])):
        xy = torch.rand(g, 2, generator=gen) * 0.6
        wh = torch.rand(g, 2, generator=gen) * 0.35 + 0.03
        out[f"gt{i}.bboxes"] = torch.cat([xy, xy + wh], 1) * torch.tensor([w, h, w, h], dtype=torch.float32)
        out[f"gt{i}.labels"] = torch.randint(0, c, (g,), generator=gen)
    return out


def _num_dn(p: Mapping[str, Any]) -> int:
    """D: CdnQueryGenerator's ``max_num_target * 2 * num_groups`` (0 for Deformable DETR)."""
    return 2 * max(p["num_gts"]) * p["dn_groups"] if p["head"] == "dino" else 0


def _dn_meta(p: Mapping[str, Any]) -> dict[str, int] | None:
    if p["head"] != "dino":
        return None
    return {"num_denoising_queries": _num_dn(p), "num_denoising_groups": p["dn_groups"]}


def _run(p: Mapping[str, Any], inputs: Tensors, head: Any, instance_cls: Any) -> Tensors:
    leaves = {k: inputs[k].detach().clone().requires_grad_(True)
              for k in ("cls_scores", "bbox_preds", "enc_cls_scores", "enc_bbox_preds") if k in inputs}  # fmt: skip
    metas = [{"img_shape": tuple(s)} for s in p["img_shapes"]]
    gts = [instance_cls(bboxes=inputs[f"gt{i}.bboxes"], labels=inputs[f"gt{i}.labels"]) for i in range(len(metas))]
    args = [leaves["cls_scores"], leaves["bbox_preds"]]
    if p["head"] != "detr":
        args += [leaves.get("enc_cls_scores"), leaves.get("enc_bbox_preds")]
    args += [gts, metas]
    if p["head"] == "dino":
        args.append(_dn_meta(p))
    losses = head.loss_by_feat(*args)
    total = sum((1.0 + 0.1 * k) * losses[name].sum() for k, name in enumerate(sorted(losses)))
    total.backward()
    out: Tensors = {f"loss.{name}": value.detach() for name, value in losses.items()}
    out.update({f"grad.{k}": v.grad for k, v in leaves.items()})
    num_dn = _num_dn(p)
    with torch.no_grad():
        last_cls, last_bbox = inputs["cls_scores"][-1, :, num_dn:], inputs["bbox_preds"][-1, :, num_dn:]
        targets = head.get_targets(list(last_cls), list(last_bbox), gts, metas)
        out["targets.labels"] = torch.cat(targets[0])
        out["targets.bbox_targets"] = torch.cat(targets[2])
        out["targets.counts"] = torch.tensor(targets[4:])
        if p["head"] == "dino":
            dn = head.get_dn_targets(gts, metas, _dn_meta(p))
            out["dn_targets.labels"] = torch.cat(dn[0])
            out["dn_targets.bbox_targets"] = torch.cat(dn[2])
            out["dn_targets.counts"] = torch.tensor(dn[4:])
    return out


def _ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    register_all_modules()
    cls = {"detr": DeformableDETRHead, "deformable": DeformableDETRHead, "dino": DINOHead}[p["head"]]
    head = cls(num_classes=p["num_classes"], embed_dims=16, sync_cls_avg_factor=p["sync"],
               train_cfg={"assigner": {"type": "HungarianAssigner", "match_costs": [dict(c) for c in _COSTS]}},
               **_loss_cfgs(p))  # fmt: skip
    if p["head"] == "detr":  # DETRHead's own loss_by_feat (no encoder arguments), on the same head
        from mmdet.models.dense_heads import DETRHead

        head.loss_by_feat = DETRHead.loss_by_feat.__get__(head)
    return _run(p, inputs, head, InstanceData)


class _Host(nn.Module):
    """The attributes the loss mixins need, built from configs as mmdet's head builds them."""

    def __init__(self, p: Mapping[str, Any]) -> None:
        from visdet.build import build_component

        super().__init__()
        self.num_classes = p["num_classes"]
        self.cls_out_channels = p["num_classes"]  # sigmoid focal loss
        for name, cfg in _loss_cfgs(p).items():
            setattr(self, name, build_component("loss", cfg))
        self.assigner = build_component("assigner", {"type": "HungarianAssigner", "match_costs": _COSTS})
        self.bg_cls_weight = 0  # DeformableDETRHead / DINOHead: no class_weight handling, 0
        self.sync_cls_avg_factor = p["sync"]


def _vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.dense_heads import detr_loss
    from visdet.structures import Instances

    if p["head"] == "dino":
        from visdet.models.dense_heads.dino_loss import DINOLossMixin as mixin
    else:
        mixin = {"detr": detr_loss.DETRLossMixin, "deformable": detr_loss.DeformableDETRLossMixin}[p["head"]]
    host = type("LossHost", (mixin, _Host), {})(p)
    return _run(p, inputs, host, Instances)


DEFORMABLE = dict(head="deformable", num_layers=3, num_classes=5, num_queries=10, img_shapes=SHAPES,
                  num_gts=[4, 0, 3], sync=True, cls_weight=2.0)  # fmt: skip
_CASES = {
    "detr_decoder_only": dict(DEFORMABLE, head="detr"),
    "deformable_single_stage": DEFORMABLE,
    "deformable_two_stage": dict(DEFORMABLE, enc=True, num_enc=24),
    "deformable_two_stage_nosync": dict(DEFORMABLE, enc=True, num_enc=24, sync=False),
    "deformable_more_gts_than_queries": dict(DEFORMABLE, num_queries=4, img_shapes=SHAPES[:2], num_gts=[6, 2],
                                             enc=True, num_enc=5, sync=False),
}  # fmt: skip


def register_cases(component: str, cases: Mapping[str, Mapping[str, Any]], description: str) -> None:
    """Register ``cases`` (name -> params) of ``component``, float64, with the exact target keys."""
    for name, params in cases.items():
        register(Case(
            component=component, name=name, params=params, seed=97, dtype="float64", make_inputs=_inputs,
            reference=_ref, visdet=_vis,
            exact=("targets.labels", "targets.counts", "dn_targets.labels", "dn_targets.counts"),
            description=description,
        ))  # fmt: skip


register_cases(COMPONENT, _CASES, "DETRHead / DeformableDETRHead loss_by_feat: every term, gradients, targets")
