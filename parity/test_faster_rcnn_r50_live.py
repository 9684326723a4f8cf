"""Live parity of the full-size Faster R-CNN R50-FPN built from mmdet's own config file.

mmdet builds ``configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py`` (backbone
``init_cfg=None``, seeded random weights, rcnn ``score_thr`` lowered so random weights
give detections); its ``state_dict`` is saved as an mmdet-style checkpoint and loaded
into ``visdet.build_detector(cfg.model)`` with ``visdet.load_checkpoint`` (strict).
Predictions after rescale are compared in float32, as users run it. Every loss term
with seeded sampling and every parameter gradient are compared with both models in
float64 (:mod:`parity.precision`): a gradient summed over 1,024 RoIs of 12,544 features
differs in float32 by summation order alone (mmcv's RoIAlign kernel against visdet's
tensor ops), so a float32 comparison of it would test rounding, not visdet. Too large
for a golden file, so this runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing

CASE_KEY = "models/detectors/faster_rcnn_r50_fpn_full/live"
SCORE_THR = 0.005
LOSS_NAMES = ("loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox")


def _mmdet_config():
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "faster_rcnn",
                        "faster-rcnn_r50_fpn_1x_coco.py")
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.rcnn.score_thr = SCORE_THR
    return cfg


def _inputs():
    g = torch.Generator().manual_seed(2024)
    images = [torch.randint(0, 256, (3, 320, 416), generator=g, dtype=torch.uint8),
              torch.randint(0, 256, (3, 288, 400), generator=g, dtype=torch.uint8)]
    metas = [{"img_shape": (320, 416), "ori_shape": (640, 832), "scale_factor": (0.5, 0.5)},
             {"img_shape": (288, 400), "ori_shape": (288, 400), "scale_factor": (1.0, 1.0)}]
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, 400.0, 300.0], [5.0, 5.0, 60.0, 90.0]]),
            torch.tensor([0, 17, 79])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]
    return images, metas, gts


def _grads(model) -> dict[str, torch.Tensor]:
    return {f"grad.param.{n}": (p.grad if p.grad is not None else torch.zeros_like(p)).detach().clone()
            for n, p in model.named_parameters() if p.requires_grad}


def _loss_record(losses) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    out, total = {}, torch.zeros(())
    for name in LOSS_NAMES:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        if "loss" in name:
            total = total + value
    return out, total


def _save_like_mmengine_runner(ref_model: torch.nn.Module, path) -> None:
    """Write a checkpoint the way mmengine's Runner does: weights, optimizer, meta, message hub.

    The message hub holds mmengine objects (HistoryBuffer) and numpy values, which a
    weights-only load must get past without running code from the file.
    """
    import mmdet
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu

    hub = MessageHub.get_instance("visdet-live-checkpoint")
    hub.update_scalar("train/loss", 1.25)
    hub.update_info("iter", 10)
    optimizer = torch.optim.SGD(ref_model.parameters(), lr=0.02, momentum=0.9)
    checkpoint = {
        "meta": {
            "epoch": 1,
            "iter": 10,
            "mmdet_version": mmdet.__version__,
            "dataset_meta": {"classes": tuple(f"class_{i}" for i in range(80))},
        },
        "state_dict": weights_to_cpu(get_state_dict(ref_model)),
        "optimizer": optimizer.state_dict(),
        "message_hub": hub.state_dict(),
    }
    save_checkpoint(checkpoint, str(path))


def build_pair(cfg, path, *, init_weights: bool = False) -> tuple[torch.nn.Module, torch.nn.Module]:
    """mmdet's ``cfg.model`` (seed 0), saved to ``path`` as mmengine does and loaded strictly into visdet's.

    Args:
        cfg: mmengine ``Config`` with ``model``.
        path: Where the checkpoint is written.
        init_weights: Run mmdet's ``init_weights`` (``MODELS.build`` alone keeps torch's default init).

    Returns:
        ``(ref_model, model)``.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import visdet

    register_all_modules()
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    if init_weights:
        ref_model.init_weights()
    _save_like_mmengine_runner(ref_model, path)
    model = visdet.build_detector(cfg.model.to_dict())
    assert set(model.state_dict()) == set(ref_model.state_dict())
    visdet.load_checkpoint(model, path)
    return ref_model, model


def mmdet_samples(metas, gts) -> list:
    """mmdet ``DetDataSample``s with the metas and ground-truth boxes and labels."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    samples = []
    for meta, (boxes, labels) in zip(metas, gts):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=boxes.clone(), labels=labels.clone())
        samples.append(sample)
    return samples


def predict_both(ref_model, model, images, metas, samples, ref_out, got) -> list:
    """Both models' float32 ``predict`` (rescaled) on one batch; inputs and detections recorded.

    Returns:
        visdet's results.
    """
    ref_model.eval()
    model.eval()
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples})
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
    ref_out["batch_inputs"], got["batch_inputs"] = data["inputs"], batch
    with torch.no_grad():
        ref_results = ref_model.predict(data["inputs"], data["data_samples"], rescale=True)
        results = model.predict(batch, batch_metas, rescale=True)
    assert len(results) == len(ref_results) == len(images)
    for i, (ref_res, res) in enumerate(zip(ref_results, results)):
        pred = ref_res.pred_instances
        for field in ("bboxes", "scores", "labels"):
            ref_out[f"pred.{i}.{field}"] = getattr(pred, field).clone()
            got[f"pred.{i}.{field}"] = getattr(res, field).clone()
    return results


@pytest.mark.live
def test_full_size_faster_rcnn_matches_mmdet(tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from visdet.structures import Instances

    cfg = _mmdet_config()
    ref_model, model = build_pair(cfg, tmp_path / "faster_rcnn_random.pth")
    images, metas, gts = _inputs()
    samples = mmdet_samples(metas, gts)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    results = predict_both(ref_model, model, images, metas, samples, ref_out, got)
    assert len(results[0]) > 0, "lower SCORE_THR: random weights gave no detections"

    # loss and gradients, in float64 (ground truth boxes too, as a float64 pipeline gives them)
    ref_model.double().train()
    model.double().train()
    with reference_precision("float64"):
        for sample in samples:
            sample.gt_instances.bboxes = sample.gt_instances.bboxes.double()
        data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                           training=True)
        torch.manual_seed(5)
        ref_losses, ref_total = _loss_record(ref_model.loss(data["inputs"], data["data_samples"]))
        ref_total.backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        torch.manual_seed(5)
        gt_instances = [Instances(bboxes=b.clone().double(), labels=lab.clone()) for b, lab in gts]
        losses, total = _loss_record(model.loss(batch, batch_metas, gt_instances))
        total.backward()
    assert data["inputs"].dtype == batch.dtype == torch.float64
    ref_out.update(ref_losses)
    got.update(losses)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    result = compare_outputs(CASE_KEY, got, ref_out, exact=("pred.*.labels",))
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
