"""Helpers of the reduced DETR-family detector cases (Deformable DETR, DINO).

Both draw two raw uint8 images and their gt from the case's generator, run each side's own
DetDataPreprocessor, and record in predict mode the batch, every decoder layer's raw class logits
and boxes (``forward.*``, in mmdet's order: all class logits, then all boxes) and the detections
after rescale (``pred.*``). :func:`dropout_deprecation` is the DETR layer cases' too: mmdet's
configs give the decoder's self-attention mmcv's deprecated ``dropout``, for which mmcv warns.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from parity.cases._heads_detector_common import draw_gt, metas
from parity.cases.base import Tensors

#: mmdet's DETR matcher (the loss cases' ``train_cfg.assigner``).
HUNGARIAN = {"type": "HungarianAssigner", "match_costs": [
    {"type": "FocalLossCost", "weight": 2.0}, {"type": "BBoxL1Cost", "weight": 5.0, "box_format": "xywh"},
    {"type": "IoUCost", "iou_mode": "giou", "weight": 2.0}]}  # fmt: skip


@contextlib.contextmanager
def dropout_deprecation(self_attn_cfg: Mapping[str, Any]) -> Iterator[None]:
    """Inside, MultiheadAttention's ``dropout`` DeprecationWarning must be raised iff ``self_attn_cfg`` gives it.

    mmcv 2.1 warns for every ``dropout`` given (once per layer built); visdet must do the same, and
    a case that builds from such a config expects the warning instead of leaking it (so it passes
    under ``-W error``). Other warnings are passed on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning) and "`dropout`" in str(w.message)]
    if ("dropout" in self_attn_cfg) != bool(deprecated):
        raise AssertionError(f"self_attn_cfg {dict(self_attn_cfg)}: MultiheadAttention's deprecation warnings "
                             f"{[str(w.message) for w in deprecated]} differ from mmcv's")  # fmt: skip
    for w in caught:
        if w not in deprecated:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def images_and_gt(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    """``img.<i>`` uint8 ``[3, H, W]`` per ``img_shapes`` entry, then the gt (``draw_gt``)."""
    images = {f"img.{i}": torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
              for i, (h, w) in enumerate(params["img_shapes"])}  # fmt: skip
    return {**images, **draw_gt(params, generator)}


def images(params: Mapping[str, Any], tensors: Tensors) -> list[torch.Tensor]:
    """Copies of the case's raw images, in order."""
    return [tensors[f"img.{i}"].clone() for i in range(len(params["img_shapes"]))]


def _predictions(results: Sequence[Any]) -> Tensors:
    out: Tensors = {}
    for i, res in enumerate(results):
        out[f"pred.{i}.bboxes"], out[f"pred.{i}.scores"] = res.bboxes.clone(), res.scores.clone()
        out[f"pred.{i}.labels"] = res.labels.clone()
    return out


def mm_predict(model: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    """mmdet's detector in eval mode: the batch, raw outputs and rescaled detections."""
    from mmdet.structures import DetDataSample

    samples = [DetDataSample(metainfo=meta) for meta in metas(params)]
    model.eval()
    data = model.data_preprocessor({"inputs": images(params, tensors), "data_samples": samples}, training=False)
    out: Tensors = {"batch_inputs": data["inputs"].clone()}
    with torch.no_grad():
        results = model.predict(data["inputs"], data["data_samples"], rescale=True)
        raw = model._forward(data["inputs"], data["data_samples"])
    out.update({f"forward.{i}": t.clone() for i, t in enumerate(layer for per_layer in raw for layer in per_layer)})
    out.update(_predictions([sample.pred_instances for sample in results]))
    return out


def visdet_predict(model: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    """visdet's detector, the same steps as :func:`mm_predict`."""
    model.eval()
    batch, batch_metas = model.data_preprocessor(images(params, tensors), metas(params))
    out: Tensors = {"batch_inputs": batch.clone()}
    with torch.no_grad():
        results = model.predict(batch, batch_metas, rescale=True)
        out.update({f"forward.{i}": t.clone() for i, t in enumerate(model.forward(batch, batch_metas))})
    out.update(_predictions(results))
    return out
