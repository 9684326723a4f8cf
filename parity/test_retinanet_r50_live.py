"""Live parity of the full-size RetinaNet R50-FPN built from mmdet's own config file.

As ``test_faster_rcnn_r50_live.py``: mmdet builds ``configs/retinanet/retinanet_r50_fpn_1x_coco.py``
(backbone ``init_cfg=None``) under a seed and runs its own ``init_weights`` (Normal(0, 0.01)
subnet outputs, the classifier's bias at the 0.01 prior), its weights are saved the way
mmengine's runner saves them and loaded strictly into ``visdet.build_detector(cfg.model)``.

* ``predict`` (float32, as users run it) on three images of different sizes and scales in
  one batch: boxes, scores and labels. With the prior bias every score starts near 0.01,
  under the config's ``score_thr`` of 0.05, so the threshold is lowered to ``SCORE_THR``;
  each image must then give detections (a comparison of empty results fails).
* ``loss`` in float64 (:mod:`parity.precision`) on four images of different sizes, one
  without ground truth: ``loss_cls`` (focal, mmdet's CPU formula) and ``loss_bbox`` summed
  over the levels, and every parameter gradient.
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, build_pair, mmdet_samples, predict_both

CASE_KEY = "models/detectors/retinanet_r50_fpn_full/live"
SCORE_THR = 0.005
LOSS_NAMES = ("loss_cls", "loss_bbox")


def _mmdet_config():
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "retinanet",
                        "retinanet_r50_fpn_1x_coco.py")
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.score_thr = SCORE_THR
    return cfg


def _inputs():
    g = torch.Generator().manual_seed(2026)
    shapes = [(256, 320), (224, 288), (192, 256), (160, 224)]
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in shapes]
    metas = [{"img_shape": (256, 320), "ori_shape": (512, 640), "scale_factor": (0.5, 0.5)},
             {"img_shape": (224, 288), "ori_shape": (224, 288), "scale_factor": (1.0, 1.0)},
             {"img_shape": (192, 256), "ori_shape": (240, 320), "scale_factor": (0.8, 0.8)},
             {"img_shape": (160, 224), "ori_shape": (120, 168), "scale_factor": (224 / 168, 160 / 120)}]
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, 310.0, 250.0], [5.0, 5.0, 60.0, 90.0]]),
            torch.tensor([0, 17, 79])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
           (torch.tensor([[10.0, 12.0, 120.0, 180.0], [100.0, 50.0, 250.0, 190.0]]), torch.tensor([3, 45])),
           (torch.tensor([[0.0, 0.0, 223.0, 159.0], [60.0, 70.0, 76.0, 90.0], [61.0, 69.0, 79.0, 92.0]]),
            torch.tensor([5, 5, 62]))]
    return images, metas, gts


def _summed(value) -> torch.Tensor:
    return (sum(value) if isinstance(value, (list, tuple)) else value).reshape(())


@pytest.mark.live
def test_full_size_retinanet_matches_mmdet(tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from visdet.structures import Instances

    cfg = _mmdet_config()
    ref_model, model = build_pair(cfg, tmp_path / "retinanet_random.pth", init_weights=True)
    images, metas, gts = _inputs()
    samples = mmdet_samples(metas, gts)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    # predict, float32, the first three images in one batch
    results = predict_both(ref_model, model, images[:3], metas[:3], samples[:3], ref_out, got)
    for i, res in enumerate(results):
        assert len(res) > 0 and ref_out[f"pred.{i}.scores"].numel() > 0, f"image {i}: no detections"
    counts = [len(res) for res in results]

    # loss and gradients in float64, four images (the second without gt)
    ref_model.double().train()
    model.double().train()
    with reference_precision("float64"):
        for sample in samples:
            sample.gt_instances.bboxes = sample.gt_instances.bboxes.double()
        data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                           training=True)
        ref_losses = ref_model.loss(data["inputs"], data["data_samples"])
        assert set(ref_losses) == set(LOSS_NAMES)
        ref_record = {f"loss.{k}": _summed(v).detach().clone() for k, v in ref_losses.items()}
        sum(_summed(v) for v in ref_losses.values()).backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        gt_instances = [Instances(bboxes=b.clone().double(), labels=lab.clone()) for b, lab in gts]
        losses = model.loss(batch, batch_metas, gt_instances)
        assert set(losses) == set(LOSS_NAMES)
        record = {f"loss.{k}": _summed(v).detach().clone() for k, v in losses.items()}
        sum(_summed(v) for v in losses.values()).backward()
    assert data["inputs"].dtype == batch.dtype == torch.float64
    assert all(v.dtype == torch.float64 for v in record.values())
    ref_out.update(ref_record)
    got.update(record)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    result = compare_outputs(CASE_KEY, got, ref_out, exact=("pred.*.labels",))
    preds = [r for r in result.keys if r.key.startswith("pred.") and not r.key.endswith("labels")]
    worst_pred = {f: max((r.max_abs for r in preds if r.key.endswith(f)), default=float("nan"))
                  for f in ("bboxes", "scores")}
    losses_err = {r.key.removeprefix("loss."): f"{r.max_abs:.2g}" for r in result.keys if r.key.startswith("loss.")}
    grads = [r for r in result.keys if r.key.startswith("grad.")]
    worst_grad = max(grads, key=lambda r: r.max_rel)
    values = {k: f"{v.item():.6g}" for k, v in record.items()}
    print(f"\ndetections per image: {counts}; worst box error {worst_pred['bboxes']:.2g} px, "
          f"worst score error {worst_pred['scores']:.2g}; loss values {values}"
          f"; loss terms, max abs error: {losses_err}; worst gradient: {worst_grad.key} "
          f"abs {worst_grad.max_abs:.2g} rel {worst_grad.max_rel:.2g} ({len(grads)} parameters)")
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
