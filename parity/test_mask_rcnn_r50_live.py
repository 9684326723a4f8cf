"""Live parity of the full-size Mask R-CNN R50-FPN built from mmdet's own config file.

As ``test_faster_rcnn_r50_live.py``: mmdet builds ``configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py``
(backbone ``init_cfg=None``, seeded random weights, rcnn ``score_thr`` lowered so random
weights give detections), its weights are saved the way mmengine's runner saves them and
loaded strictly into ``visdet.build_detector(cfg.model)``.

* ``predict`` (float32, as users run it): boxes, scores and labels within the default
  tolerances, and the pasted masks pixel by pixel. RoIAlign in visdet sums in another
  order than mmcv's kernel (~1e-7 relative in float32), so a pasted probability that sits
  within float32 rounding of ``mask_thr_binary`` may land on the other side. The test
  counts the differing pixels per instance and requires each of them to be such a tie:
  visdet's own pasted probability there lies within ``TIE_WIDTH`` of the threshold.
* ``loss`` in float64 (:mod:`parity.precision`) on three images of different sizes, one
  without ground truth, masks padded by each side's preprocessor (``pad_mask=True``):
  every loss term, ``loss_mask`` included, and every parameter gradient.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from parity.compare import compare_outputs
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, _save_like_mmengine_runner

CASE_KEY = "models/detectors/mask_rcnn_r50_fpn_full/live"
SCORE_THR = 0.005
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox", "loss_mask")
# a differing mask pixel must have visdet's pasted probability this close to the threshold:
# float32 RoIAlign rounding (~1e-7 relative) through four convs, a deconv and a sigmoid
TIE_WIDTH = 1e-4


def _mmdet_config():
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "mask_rcnn",
                        "mask-rcnn_r50_fpn_1x_coco.py")
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = SCORE_THR
    return cfg


def _ellipses(boxes: torch.Tensor, h: int, w: int) -> np.ndarray:
    ys = np.arange(h)[:, None] + 0.5
    xs = np.arange(w)[None, :] + 0.5
    out = np.zeros((len(boxes), h, w), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        rx, ry = max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
        out[i] = ((xs - (x1 + x2) / 2) / rx) ** 2 + ((ys - (y1 + y2) / 2) / ry) ** 2 <= 1
    return out


def _inputs():
    g = torch.Generator().manual_seed(2025)
    shapes = [(320, 416), (288, 400), (256, 352)]
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in shapes]
    metas = [{"img_shape": (320, 416), "ori_shape": (640, 832), "scale_factor": (0.5, 0.5)},
             {"img_shape": (288, 400), "ori_shape": (288, 400), "scale_factor": (1.0, 1.0)},
             {"img_shape": (256, 352), "ori_shape": (320, 440), "scale_factor": (0.8, 0.8)}]
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, 400.0, 300.0], [5.0, 5.0, 60.0, 90.0]]),
            torch.tensor([0, 17, 79])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
           (torch.tensor([[10.0, 12.0, 120.0, 200.0], [100.0, 50.0, 340.0, 250.0]]), torch.tensor([3, 45]))]
    masks = [_ellipses(b, h, w) for (b, _), (h, w) in zip(gts, shapes)]
    return images, metas, gts, masks, shapes


def _mask_logits_recorder(head: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    head.register_forward_hook(lambda module, args, out: seen.append(out.detach().clone()))
    return seen


def _differing_pixels(ref_results, results, visdet_logits, thr: float) -> list[list[int]]:
    """Per image and instance, the pixels where the two masks differ (after checking they are ties)."""
    from visdet.models.roi_heads.mask_paste import paste_masks_chunk

    counts = []
    start = 0
    for ref_res, res in zip(ref_results, results):
        ref_masks, masks = ref_res.pred_instances.masks, res.masks
        assert ref_masks.shape == masks.shape and ref_masks.dtype == masks.dtype == torch.bool
        n = len(res)
        probs = visdet_logits[start:start + n].sigmoid()[torch.arange(n), res.labels][:, None]
        start += n
        per_instance = []
        for i in range(n):
            differ = ref_masks[i] != masks[i]
            count = int(differ.sum())
            if count:
                img_h, img_w = masks.shape[1:]
                pasted, (rows, cols) = paste_masks_chunk(probs[i:i + 1], res.bboxes[i:i + 1], img_h, img_w)
                full = torch.zeros(img_h, img_w)
                full[rows, cols] = pasted[0]
                gap = (full[differ] - thr).abs().max().item()
                assert gap <= TIE_WIDTH, f"instance {i}: {count} pixels differ, up to {gap:.3g} from the threshold"
            per_instance.append(count)
        counts.append(per_instance)
    return counts


@pytest.mark.live
def test_full_size_mask_rcnn_matches_mmdet(tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks as MMBitmapMasks
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    import visdet
    from visdet.structures import BitmapMasks, Instances

    register_all_modules()
    cfg = _mmdet_config()
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    path = tmp_path / "mask_rcnn_random.pth"
    _save_like_mmengine_runner(ref_model, path)

    model = visdet.build_detector(cfg.model.to_dict())
    assert set(model.state_dict()) == set(ref_model.state_dict())
    visdet.load_checkpoint(model, path)

    images, metas, gts, masks, shapes = _inputs()
    samples = []
    for meta, (boxes, labels), mask, (h, w) in zip(metas, gts, masks, shapes):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=boxes.clone(), labels=labels.clone(),
                                           masks=MMBitmapMasks(mask.copy(), h, w))
        samples.append(sample)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    # predict (first two images), float32
    ref_model.eval()
    model.eval()
    visdet_logits = _mask_logits_recorder(model.roi_head.mask_head)
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images[:2]], "data_samples": samples[:2]})
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images[:2]], metas[:2])
    with torch.no_grad():
        ref_results = ref_model.predict(data["inputs"], data["data_samples"], rescale=True)
        results = model.predict(batch, batch_metas, rescale=True)
    for i, (ref_res, res) in enumerate(zip(ref_results, results)):
        pred = ref_res.pred_instances
        for field in ("bboxes", "scores", "labels"):
            ref_out[f"pred.{i}.{field}"] = getattr(pred, field).clone()
            got[f"pred.{i}.{field}"] = getattr(res, field).clone()
    assert len(results[0]) > 0, "lower SCORE_THR: random weights gave no detections"
    counts = _differing_pixels(ref_results, results, torch.cat(visdet_logits), cfg.model.test_cfg.rcnn.mask_thr_binary)
    total_pixels = sum(int(r.masks.sum()) for r in results)
    print(f"\nmask pixels differing per instance: {counts}; foreground pixels in visdet's masks: {total_pixels}")

    # loss and gradients in float64, three images (the second without gt)
    ref_model.double().train()
    model.double().train()
    with reference_precision("float64"):
        for sample in samples:
            sample.gt_instances.bboxes = sample.gt_instances.bboxes.double()
        data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                           training=True)
        torch.manual_seed(5)
        ref_losses = ref_model.loss(data["inputs"], data["data_samples"])
        ref_record = {f"loss.{k}": (sum(v) if isinstance(v, list) else v).detach().clone().reshape(())
                      for k, v in ref_losses.items() if k in LOSS_NAMES}
        sum((sum(v) if isinstance(v, list) else v).sum() for k, v in ref_losses.items() if "loss" in k).backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        gt_instances = [Instances(bboxes=b.clone().double(), labels=lab.clone(), masks=BitmapMasks(m.copy(), h, w))
                        for (b, lab), m, (h, w) in zip(gts, masks, shapes)]
        gt_instances = model.data_preprocessor.pad_gt_masks(gt_instances, batch_metas)
        torch.manual_seed(5)
        losses = model.loss(batch, batch_metas, gt_instances)
        record = {f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items() if k in LOSS_NAMES}
        sum(v.sum() for k, v in losses.items() if "loss" in k).backward()
    assert set(record) == set(ref_record) == {f"loss.{k}" for k in LOSS_NAMES}
    ref_out.update(ref_record)
    got.update(record)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    result = compare_outputs(CASE_KEY, got, ref_out, exact=("pred.*.labels",))
    losses_err = {r.key.removeprefix("loss."): f"{r.max_abs:.2g}" for r in result.keys if r.key.startswith("loss.")}
    grads = [r for r in result.keys if r.key.startswith("grad.")]
    worst_grad = max(grads, key=lambda r: r.max_rel)
    print(f"loss terms, max abs error: {losses_err}; worst gradient: {worst_grad.key} "
          f"abs {worst_grad.max_abs:.2g} rel {worst_grad.max_rel:.2g}")
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
