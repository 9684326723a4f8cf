"""Live parity of the full-size Cascade R-CNN and Cascade Mask R-CNN R50-FPN from mmdet's own configs.

As ``test_mask_rcnn_r50_live.py``: mmdet builds ``configs/cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py``
or ``cascade-mask-rcnn_r50_fpn_1x_coco.py`` (backbone ``init_cfg=None``, seeded random
weights, rcnn ``score_thr`` lowered so random weights give detections), its weights are
saved the way mmengine's runner saves them and loaded strictly into
``visdet.build_detector(cfg.model)``.

* ``predict`` (float32, as users run it) on two images of different sizes and scales:
  boxes, scores and labels within the default tolerances; the pasted masks pixel by pixel,
  each differing pixel required to be a tie (visdet's stage-averaged probability there
  within ``TIE_WIDTH`` of ``mask_thr_binary``).
* ``loss`` in float64 (:mod:`parity.precision`) on three images of different sizes, one
  without ground truth (masks padded by each side's preprocessor): every loss term of
  every stage (``s0.loss_cls`` ... ``s2.loss_mask``) and every parameter gradient.
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs, near_tie_order
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, _save_like_mmengine_runner
from parity.test_mask_rcnn_r50_live import TIE_WIDTH, _inputs

SCORE_THR = 0.005
CONFIGS = {
    "cascade_rcnn": "cascade-rcnn_r50_fpn_1x_coco.py",
    "cascade_mask_rcnn": "cascade-mask-rcnn_r50_fpn_1x_coco.py",
}


def _loss_names(with_mask: bool) -> tuple[str, ...]:
    per_stage = ("loss_cls", "acc", "loss_bbox") + (("loss_mask",) if with_mask else ())
    return ("loss_rpn_cls", "loss_rpn_bbox") + tuple(f"s{s}.{n}" for s in range(3) for n in per_stage)


def _mmdet_config(name: str):
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "cascade_rcnn", CONFIGS[name])
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = SCORE_THR
    return cfg


def _stage_probability_recorder(heads: torch.nn.ModuleList) -> list[list[torch.Tensor]]:
    seen: list[list[torch.Tensor]] = [[] for _ in heads]
    for i, head in enumerate(heads):
        head.register_forward_hook(lambda module, args, out, i=i: seen[i].append(out.detach().sigmoid()))
    return seen


def _differing_mask_pixels(ref_results, results, stage_probs, thr: float, orders) -> list[list[int]]:
    """Per image and instance, the differing pixels (each checked to be a tie of the threshold).

    ``orders`` are the per-image orders that lined visdet's detections up with the
    reference's (:func:`parity.compare.near_tie_order`); ``results`` are already in them.
    """
    from visdet.models.roi_heads.mask_paste import paste_masks_chunk

    merged = torch.stack([torch.cat(p) for p in stage_probs]).mean(0)
    counts = []
    start = 0
    for ref_res, res, order in zip(ref_results, results, orders):
        ref_masks, masks = ref_res.pred_instances.masks, res.masks
        assert ref_masks.shape == masks.shape and ref_masks.dtype == masks.dtype == torch.bool
        n = len(res)
        probs = merged[start:start + n][order][torch.arange(n), res.labels][:, None]
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
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_full_size_cascade_matches_mmdet(name, tmp_path, parity_record) -> None:
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

    with_mask = name == "cascade_mask_rcnn"
    loss_names = _loss_names(with_mask)
    case_key = f"models/detectors/{name}_r50_fpn_full/live"
    register_all_modules()
    cfg = _mmdet_config(name)
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    path = tmp_path / f"{name}_random.pth"
    _save_like_mmengine_runner(ref_model, path)

    model = visdet.build_detector(cfg.model.to_dict())
    assert list(model.state_dict()) == list(ref_model.state_dict())
    visdet.load_checkpoint(model, path)

    images, metas, gts, masks, shapes = _inputs()
    samples = []
    for meta, (boxes, labels), mask, (h, w) in zip(metas, gts, masks, shapes):
        sample = DetDataSample(metainfo=meta)
        fields = {"bboxes": boxes.clone(), "labels": labels.clone()}
        if with_mask:
            fields["masks"] = MMBitmapMasks(mask.copy(), h, w)
        sample.gt_instances = InstanceData(**fields)
        samples.append(sample)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    # predict (first two images), float32
    ref_model.eval()
    model.eval()
    stage_probs = _stage_probability_recorder(model.roi_head.mask_head) if with_mask else []
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images[:2]], "data_samples": samples[:2]})
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images[:2]], metas[:2])
    with torch.no_grad():
        ref_results = ref_model.predict(data["inputs"], data["data_samples"], rescale=True)
        results = model.predict(batch, batch_metas, rescale=True)
    # Float32 scores a few ulps apart can swap places between the libraries (seen: two
    # class-7 detections at 0.01489782, 4 ulps apart in mmdet, equal in visdet): line them up.
    orders = []
    for i, ref_res in enumerate(ref_results):
        pred = ref_res.pred_instances
        order = near_tie_order(pred.scores, pred.bboxes, pred.labels,
                               results[i].scores, results[i].bboxes, results[i].labels)
        swapped = int((order != torch.arange(len(order))).sum())
        if swapped:
            print(f"\nimage {i}: {swapped} detections lined up across near-tied scores")
        results[i] = results[i][order]
        orders.append(order)
    for i, (ref_res, res) in enumerate(zip(ref_results, results)):
        pred = ref_res.pred_instances
        for field in ("bboxes", "scores", "labels"):
            ref_out[f"pred.{i}.{field}"] = getattr(pred, field).clone()
            got[f"pred.{i}.{field}"] = getattr(res, field).clone()
    assert len(results[0]) > 0, "lower SCORE_THR: random weights gave no detections"
    if with_mask:
        counts = _differing_mask_pixels(ref_results, results, stage_probs, cfg.model.test_cfg.rcnn.mask_thr_binary,
                                        orders)
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
                      for k, v in ref_losses.items() if k in loss_names}
        total = sum((sum(v) if isinstance(v, list) else v).sum() for k, v in ref_losses.items()
                    if "loss" in k.rsplit(".", 1)[-1])
        total.backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        gt_instances = []
        for (b, lab), m, (h, w) in zip(gts, masks, shapes):
            fields = {"bboxes": b.clone().double(), "labels": lab.clone()}
            if with_mask:
                fields["masks"] = BitmapMasks(m.copy(), h, w)
            gt_instances.append(Instances(**fields))
        if with_mask:
            gt_instances = model.data_preprocessor.pad_gt_masks(gt_instances, batch_metas)
        torch.manual_seed(5)
        losses = model.loss(batch, batch_metas, gt_instances)
        record = {f"loss.{k}": v.detach().clone().reshape(()) for k, v in losses.items() if k in loss_names}
        sum(v.sum() for k, v in losses.items() if "loss" in k.rsplit(".", 1)[-1]).backward()
    assert list(losses) == list(ref_losses)
    assert set(record) == set(ref_record) == {f"loss.{k}" for k in loss_names}
    ref_out.update(ref_record)
    got.update(record)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    result = compare_outputs(case_key, got, ref_out, exact=("pred.*.labels",))
    losses_err = {r.key.removeprefix("loss."): f"{r.max_abs:.2g}" for r in result.keys if r.key.startswith("loss.")}
    grads = [r for r in result.keys if r.key.startswith("grad.")]
    worst_grad = max(grads, key=lambda r: r.max_rel)
    boxes = [r for r in result.keys if r.key.endswith(".bboxes")]
    print(f"\n{name}: {sum(len(r) for r in results)} detections, worst box error "
          f"{max(r.max_abs for r in boxes):.2g} px; loss terms, max abs error: {losses_err}; "
          f"worst gradient: {worst_grad.key} abs {worst_grad.max_abs:.2g} rel {worst_grad.max_rel:.2g}")
    component, case = case_key.rsplit("/", 1)
    parity_record(component, case, "live", result=result, examples=1)
    assert all(k.ok for k in result.keys), result.failure_text()
