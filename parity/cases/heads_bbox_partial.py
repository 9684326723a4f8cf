"""Parity cases: box heads built without a classifier or without a regressor, and the loss of zero RoIs.

mmdet's ``BBoxHead`` returns ``None`` for the branch it does not have; its loss skips the
missing term, and without a regressor its prediction keeps the RoIs as boxes. A head
without a classifier cannot predict in mmdet (its NMS needs scores), so that case
compares forward, loss and gradients only. Inputs and key conventions are those of
``heads_detector.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, metas, mm_build, mm_cfg, module_grads, state_entries
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector import _BBOX_HEAD_PARAMS, _bbox_head_cfg, _bbox_head_inputs

COMPONENT = "models/roi_heads/shared2fc_bbox_head"
_LOSS_INPUTS = ("rois", "labels", "label_weights", "bbox_targets", "bbox_weights")


def _run(head: Any, loss_fn: Any, predict: Any, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    x = inputs["x"].clone().requires_grad_(True)
    cls_score, bbox_pred = head(x)
    out: Tensors = {"out.has_cls": torch.tensor(int(cls_score is not None)),
                    "out.has_reg": torch.tensor(int(bbox_pred is not None))}
    if cls_score is not None:
        out["out.cls_score"] = cls_score.detach().clone()
    if bbox_pred is not None:
        out["out.bbox_pred"] = bbox_pred.detach().clone()
    losses = loss_fn(cls_score, bbox_pred, *(inputs[k] for k in _LOSS_INPUTS))
    sum(value for key, value in losses.items() if key.startswith("loss")).backward()
    out.update({f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items()})
    out.update({"grad.input": x.grad.detach().clone(), **module_grads(head)})
    # the same loss over zero RoIs: no classification term, a zero regression term
    empty = loss_fn(*(None if t is None else t.detach()[:0] for t in (cls_score, bbox_pred)),
                    *(inputs[k][:0] for k in _LOSS_INPUTS))
    out["loss_zero_rois.terms"] = torch.tensor(len(empty))
    out.update({f"loss_zero_rois.{k}": v.detach().clone().reshape(()) for k, v in empty.items()})
    if cls_score is not None:  # mmdet predicts only with class scores
        counts = params["num_rois"]
        rois, scores = inputs["rois"].split(counts), cls_score.detach().split(counts)
        for prefix, raw in (("pred", False), ("raw", True)):
            for i, res in enumerate(predict(rois, scores, (None,) * len(counts), raw)):
                for key in ("bboxes", "scores", "labels"):
                    if key in res:
                        out[f"{prefix}.{i}.{key}"] = res[key].clone()
    return out


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg(_bbox_head_cfg(params)))
    state = state_entries(head)

    def predict(rois, scores, preds, raw):
        results = head.predict_by_feat(rois, scores, preds, metas(params)[: len(rois)],
                                       rcnn_test_cfg=None if raw else mm_cfg(params["test_cfg"]),
                                       rescale=params["rescale"])
        return [{k: getattr(r, k) for k in ("bboxes", "scores", "labels") if k in r} for r in results]

    return {**state, **_run(head, head.loss, predict, params, inputs)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component
    from visdet.models.roi_heads import RCNNTestConfig
    from visdet.models.roi_heads.bbox_loss import bbox_head_loss

    head = build_component("bbox_head", _bbox_head_cfg(params))
    load_state(head, tensors)

    def loss_fn(*args):
        return bbox_head_loss(*args, num_classes=head.num_classes, loss_cls=head.loss_cls,
                              loss_bbox=head.loss_bbox, bbox_coder=head.bbox_coder,
                              reg_class_agnostic=head.reg_class_agnostic, reg_decoded_bbox=head.reg_decoded_bbox)

    def predict(rois, scores, preds, raw):
        results = head.predict_by_feat(rois, scores, preds, metas(params)[: len(rois)],
                                       test_cfg=None if raw else RCNNTestConfig(**params["test_cfg"]),
                                       rescale=params["rescale"])
        return [{k: getattr(r, k) for k in ("bboxes", "scores", "labels") if k in r} for r in results]

    return _run(head, loss_fn, predict, params, tensors)


_EXACT = ("out.has_cls", "out.has_reg", "loss_zero_rois.terms", "pred.*.labels")
register(Case(
    component=COMPONENT, dtype="float64", name="without_classifier", seed=21,
    params={**_BBOX_HEAD_PARAMS, "head": {"type": "Shared2FCBBoxHead", "fc_out_channels": 16, "with_cls": False}},
    make_inputs=_bbox_head_inputs, reference=_reference, visdet=_visdet, exact=_EXACT,
    description="Shared2FCBBoxHead(with_cls=False): forward (no scores), regression loss only, grads; "
                "the loss of zero RoIs (a zero regression term)",
))
register(Case(
    component=COMPONENT, dtype="float64", name="without_regressor", seed=22,
    params={**_BBOX_HEAD_PARAMS, "head": {"type": "Shared2FCBBoxHead", "fc_out_channels": 16, "with_reg": False}},
    make_inputs=_bbox_head_inputs, reference=_reference, visdet=_visdet, exact=_EXACT,
    description="Shared2FCBBoxHead(with_reg=False): classification loss only; predict keeps the RoIs "
                "(rescaled) as boxes, with and without NMS; the loss of zero RoIs (no term at all)",
))
