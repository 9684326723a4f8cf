"""Parity cases for ``DynamicSoftLabelAssigner`` (RTMDet): soft-label cost, centre prior, dynamic k.

Inputs are drawn only from the case's generator: point priors of two levels (strides 8
and 16, offset 0, as RTMDet's generator makes them, ``[N, 4]`` with the strides),
predicted boxes around the points, class logits, and gt boxes with labels. ``ties``
rounds the boxes and logits to integers, so costs and IoUs tie and ``torch.topk`` /
``torch.min`` must break them as the reference does. ``masks`` gives the gts binary masks
(the centre prior then uses their centre of mass, RTMDet-Ins's path). Recorded: the
assignment (exact), the IoU of each matched prior (float32, as mmdet fills it) and the
gt count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

_ARGS = ("soft_center_radius", "topk", "iou_weight")


def _priors(sizes: list[list[int]], strides: list[int]) -> torch.Tensor:
    levels = []
    for (h, w), stride in zip(sizes, strides):
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        n = h * w
        levels.append(torch.stack([xs.reshape(-1) * stride, ys.reshape(-1) * stride,
                                   torch.full((n,), stride), torch.full((n,), stride)], 1).float())  # fmt: skip
    return torch.cat(levels)


def _inputs(p: Mapping[str, Any], gen: torch.Generator) -> Tensors:
    priors = _priors(p["sizes"], p["strides"])
    n, g, c = priors.size(0), p["num_gts"], p["num_classes"]
    extent = p["extent"]
    gxy = torch.rand(g, 2, generator=gen) * extent * 0.7
    gwh = torch.rand(g, 2, generator=gen) * extent * p.get("gt_scale", 0.5) + p.get("gt_min", 4.0)
    gt = torch.cat([gxy, gxy + gwh], 1)
    lt = priors[:, :2] - torch.rand(n, 2, generator=gen) * priors[:, 2:] * 3
    rb = priors[:, :2] + torch.rand(n, 2, generator=gen) * priors[:, 2:] * 3
    boxes = torch.cat([lt, rb], 1)
    scores = torch.randn(n, c, generator=gen) * 2
    if p.get("ties"):
        boxes, scores, gt = boxes.round(), scores.round(), gt.round()
    out = {"priors": priors, "bboxes": boxes, "scores": scores, "gt_bboxes": gt,
           "gt_labels": torch.randint(0, c, (g,), generator=gen)}  # fmt: skip
    if p.get("masks"):
        masks = torch.zeros(g, extent, extent)
        for i in range(g):
            x1, y1, x2, y2 = gt[i].long().clamp(max=extent).tolist()
            masks[i, y1:y2, x1:x2] = (torch.rand(max(y2 - y1, 0), max(x2 - x1, 0), generator=gen) > 0.3).float()
        out["gt_masks"] = masks
    return out


def _outputs(result: Any) -> Tensors:
    return {"gt_inds": result.gt_inds, "labels": result.labels, "max_overlaps": result.max_overlaps,
            "num_gts": torch.tensor(result.num_gts)}  # fmt: skip


def _gt_fields(p: Mapping[str, Any], inputs: Tensors) -> dict[str, torch.Tensor]:
    fields = {"bboxes": inputs["gt_bboxes"], "labels": inputs["gt_labels"]}
    if p.get("masks"):
        fields["masks"] = inputs["gt_masks"]
    return fields


def _ref(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.task_modules.assigners import DynamicSoftLabelAssigner
    from mmengine.structures import InstanceData

    assigner = DynamicSoftLabelAssigner(**{k: p[k] for k in _ARGS if k in p})
    pred = InstanceData(priors=inputs["priors"], bboxes=inputs["bboxes"], scores=inputs["scores"])
    return _outputs(assigner.assign(pred, InstanceData(**_gt_fields(p, inputs))))


def _vis(p: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from visdet.models.task_modules import DynamicSoftLabelAssigner
    from visdet.structures import Instances

    assigner = DynamicSoftLabelAssigner(**{k: p[k] for k in _ARGS if k in p})
    pred = Instances(priors=inputs["priors"], bboxes=inputs["bboxes"], scores=inputs["scores"])
    return _outputs(assigner.assign(pred, Instances(**_gt_fields(p, inputs))))


_BASE = dict(sizes=[[8, 8], [4, 4]], strides=[8, 16], extent=64, num_classes=4)
_CASES = {
    "random": dict(_BASE, num_gts=5),
    "topk_radius_weight": dict(_BASE, num_gts=6, topk=5, soft_center_radius=2.0, iou_weight=1.5),
    "ties": dict(_BASE, num_gts=6, ties=True),
    "crowded_large_k": dict(_BASE, num_gts=9, topk=30, gt_scale=0.9, gt_min=20.0),
    "masks_center_of_mass": dict(_BASE, num_gts=4, masks=True),
    "empty_gt": dict(_BASE, num_gts=0),
    "no_candidate": dict(_BASE, num_gts=2, gt_scale=0.0, gt_min=0.5),
}
for _name, _params in _CASES.items():
    register(Case(
        component="models/task_modules/dynamic_soft_label_assigner", name=_name, params=_params, seed=53,
        make_inputs=_inputs, reference=_ref, visdet=_vis, exact=("gt_inds", "labels", "num_gts"),
        description="DynamicSoftLabelAssigner.assign on point priors with strides, decoded boxes and logits",
    ))  # fmt: skip
