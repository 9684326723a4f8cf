"""Parity case: RetinaHead prediction with score factors (mmdet's ``predict_by_feat(score_factors=...)``).

mmdet's dense-head prediction multiplies per-anchor factors (FCOS's centerness, an IoU
branch) into the class scores after NMS pre-selection: the factor maps go through a
sigmoid, are kept with the same top-k indices, and scale the scores before the final NMS.
Here the factors are drawn logits ``[B, A, H_l, W_l]`` for the reduced RetinaHead of
``heads_detector_retinanet.py``; float64, forward and prediction only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._heads_detector_common import load_state, metas, mm_build, mm_cfg, state_entries
from parity.cases.base import Case, Tensors, register
from parity.cases.heads_detector_retinanet import _HEAD_PARAMS, HEAD_COMPONENT, _head_cfg, _head_inputs

_ANCHORS = 9  # 3 scales x 3 ratios per location


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = _head_inputs(params, generator)
    for level, (h, w) in enumerate(params["feat_sizes"]):
        out[f"factor.{level}"] = torch.randn(params["batch"], _ANCHORS, h, w, generator=generator) * 2
    return out


def _run(head: Any, params: Mapping[str, Any], inputs: Tensors, predict: Any) -> Tensors:
    levels = range(len(params["feat_sizes"]))
    with torch.no_grad():
        cls_scores, bbox_preds = head([inputs[f"feat.{level}"].clone() for level in levels])
        results = predict(cls_scores, bbox_preds, [inputs[f"factor.{level}"].clone() for level in levels])
    return {f"pred.{i}.{k}": getattr(res, k).clone() for i, res in enumerate(results)
            for k in ("bboxes", "scores", "labels")}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    torch.manual_seed(params["seed"])
    head = mm_build(mm_cfg(_head_cfg(params)))
    head.eval()
    with torch.no_grad():  # mmdet's prior-probability bias puts every score under score_thr
        head.retina_cls.bias.zero_()
        head.retina_cls.weight.normal_(0.0, params["cls_weight_std"])

    def predict(cls_scores, bbox_preds, factors):
        return head.predict_by_feat(cls_scores, bbox_preds, score_factors=factors, batch_img_metas=metas(params),
                                    rescale=params["rescale"])

    return {**state_entries(head), **_run(head, params, inputs, predict)}


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.build import build_component

    head = build_component("dense_head", _head_cfg(params))
    load_state(head, tensors)
    head.eval()

    def predict(cls_scores, bbox_preds, factors):
        return head.predict_by_feat(cls_scores, bbox_preds, metas(params), rescale=params["rescale"],
                                    score_factors=factors)

    return _run(head, params, tensors, predict)


register(Case(
    component=HEAD_COMPONENT, dtype="float64", name="predict_score_factors", seed=63,
    params={**_HEAD_PARAMS, "num_gts": [0, 0], "cls_weight_std": 0.3},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    exact=("pred.*.labels",),
    description="RetinaHead.predict_by_feat with per-anchor score factors (sigmoid, kept with the top-k, "
                "multiplied into the scores before NMS), rescaled",
))
