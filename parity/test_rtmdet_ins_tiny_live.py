"""Live parity of the full-size RTMDet-Ins-tiny built from mmdet's own config file.

As :mod:`parity.test_rtmdet_live`: mmdet builds ``configs/rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py``
(backbone ``init_cfg=None``, seeded random weights, norm layers and biases randomised), its
``state_dict`` is saved as an mmengine checkpoint and loaded strictly into
``visdet.build_detector(cfg.model)``. Predictions after rescale are compared in float32
(boxes and scores within the tolerances, labels and every mask pixel exactly, detections
lined up across float32 near ties); the raw forward (scores, distances, kernels,
prototypes); then the three loss terms and every parameter gradient in float64. The first
image carries four gt boxes with their masks (the box interiors, minus a hole), the second
none (its empty mask array has the batch's size, as mmdet's loss concatenates them).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from parity.cases.backbones_necks import _randomise_state
from parity.compare import compare_outputs, near_tie_order
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, _save_like_mmengine_runner
from parity.test_rtmdet_live import _inputs

CASE_KEY = "models/detectors/rtmdet_ins_tiny_full/live"
LOSS_NAMES = ("loss_cls", "loss_bbox", "loss_mask")


def _mmdet_config():
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "rtmdet",
                        "rtmdet-ins_tiny_8xb32-300e_coco.py")  # fmt: skip
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return cfg


def _masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``BoolTensor[G, height, width]``: each box's interior with a hole in its middle third."""
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
        masks[i, y1:y2, x1:x2] = True
        dx, dy = (x2 - x1) // 3, (y2 - y1) // 3
        masks[i, y1 + dy : y2 - dy, x1 + dx : x2 - dx] = False
    return masks


def _loss_record(losses) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    out, total = {}, torch.zeros(())
    for name in LOSS_NAMES:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        total = total + value
    return out, total


@pytest.mark.live
def test_full_size_rtmdet_ins_tiny_matches_mmdet(tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    import visdet
    from visdet.structures import Instances

    register_all_modules()
    cfg = _mmdet_config()
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    _randomise_state(ref_model, 5)
    path = tmp_path / "rtmdet_ins_tiny_random.pth"
    _save_like_mmengine_runner(ref_model, path)

    model = visdet.build_detector(cfg.model.to_dict())
    assert list(model.state_dict()) == list(ref_model.state_dict())
    visdet.load_checkpoint(model, path)

    images, metas, gts = _inputs("tiny")
    batch_h, batch_w = 320, 416  # the first image's size, the batch's
    gt_masks = [_masks(boxes, batch_h, batch_w) for boxes, _ in gts]
    samples = []
    for meta, (boxes, labels), masks in zip(metas, gts, gt_masks):
        sample = DetDataSample(metainfo=meta)
        bitmap = BitmapMasks(masks.numpy().astype(np.uint8), batch_h, batch_w)
        sample.gt_instances = InstanceData(bboxes=boxes.clone(), labels=labels.clone(), masks=bitmap)
        samples.append(sample)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    ref_model.eval()
    model.eval()
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples})
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
    ref_out["batch_inputs"], got["batch_inputs"] = data["inputs"], batch
    with torch.no_grad():
        ref_results = ref_model.predict(data["inputs"], data["data_samples"], rescale=True)
        results = model.predict(batch, batch_metas, rescale=True)
        raw_ref = ref_model._forward(data["inputs"])
        raw = model.forward(batch)
    ref_flat = [t for part in raw_ref for t in (part if isinstance(part, (list, tuple)) else [part])]
    got_flat = [t for part in raw for t in (part if isinstance(part, (list, tuple)) else [part])]
    assert len(ref_flat) == len(got_flat)
    for i, (ref_tensor, tensor) in enumerate(zip(ref_flat, got_flat)):
        ref_out[f"forward.{i}"], got[f"forward.{i}"] = ref_tensor, tensor
    for i, ref_res in enumerate(ref_results):
        pred = ref_res.pred_instances
        order = near_tie_order(pred.scores, pred.bboxes, pred.labels,
                               results[i].scores, results[i].bboxes, results[i].labels)  # fmt: skip
        results[i] = results[i][order]
        for field in ("bboxes", "scores", "labels", "masks"):
            ref_out[f"pred.{i}.{field}"] = getattr(pred, field).clone()
            got[f"pred.{i}.{field}"] = getattr(results[i], field).clone()
        assert got[f"pred.{i}.masks"].dtype == torch.bool
    assert len(results[0]) > 0, "random weights gave no detections"

    ref_model.double().train()
    model.double().train()
    with reference_precision("float64"):
        data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                           training=True)  # fmt: skip
        ref_losses, ref_total = _loss_record(ref_model.loss(data["inputs"], data["data_samples"]))
        ref_total.backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        gt_instances = [Instances(bboxes=b.clone(), labels=lab.clone(), masks=m.clone())
                        for (b, lab), m in zip(gts, gt_masks)]  # fmt: skip
        losses, total = _loss_record(model.loss(batch, batch_metas, gt_instances))
        total.backward()
    assert data["inputs"].dtype == batch.dtype == torch.float64
    assert all(value > 0 for value in losses.values()), "every loss term should be active"
    ref_out.update(ref_losses)
    got.update(losses)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    result = compare_outputs(CASE_KEY, got, ref_out, exact=("pred.*.labels", "pred.*.masks"))
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
