"""Live parity of the full-size RTMDet-tiny and RTMDet-l built from mmdet's own config files.

mmdet builds ``configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py`` (or ``rtmdet_l_8xb32-300e_coco.py``;
backbone ``init_cfg=None``;
seeded random weights, ``MODELS.build`` does not run the head's init, so scores spread over
the threshold; norm layers and conv biases given non-trivial values, the regression biases
raised by 2 so the random model's boxes have positive sides); its ``state_dict`` is
saved as an mmengine checkpoint and loaded into ``visdet.build_detector(cfg.model)`` with
``visdet.load_checkpoint`` (strict). Predictions after rescale are compared in float32, as
users run them (two images of different sizes in one batch, so the second has priors
outside its ``pad_shape``; detections lined up across float32 near ties, as in the Cascade
R-CNN test). Both loss terms and every parameter gradient are compared with both models in
float64 (:mod:`parity.precision`: the assigner's IoUs stored as float32 on both sides, gt
boxes float32 as mmdet's pipeline gives them); the second image has no ground truth. Runs
only where the reference is installed (marker ``live``).

RTMDet-l (52M parameters, 4x tiny's depth and width) runs on smaller images, 320x320
(from a 640x640 original) and 256x352, to keep the float64 backward to about a minute on
two cores; every stride still sees several cells and the second image still has priors
outside its ``pad_shape`` (the batch is padded to 320x352).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.cases.backbones_necks import _randomise_state
from parity.compare import compare_outputs, near_tie_order
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, _save_like_mmengine_runner

# variant -> (config file, case key)
VARIANTS = {
    "tiny": ("rtmdet_tiny_8xb32-300e_coco.py", "models/detectors/rtmdet_tiny_full/live"),
    "l": ("rtmdet_l_8xb32-300e_coco.py", "models/detectors/rtmdet_l_full/live"),
}
LOSS_NAMES = ("loss_cls", "loss_bbox")
# added to the regression biases of the random model; without it every decoded box has a
# negative width or height (mmdet and visdet then both predict nothing)
REG_BIAS = 2.0


def _mmdet_config(variant: str = "tiny"):
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "rtmdet", VARIANTS[variant][0])
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return cfg


# per variant: generator seed, the two images' (h, w), the first image's original size, the x2 of
# its second gt box (inside the smaller l image); the second image has no gt. RTMDet-l's batch is
# smaller (320x320, half of a 640x640 original, and 256x352) to keep its float64 backward short.
_BATCHES = {
    "tiny": (2027, ((320, 416), (288, 384)), (640, 832), 400.0),
    "l": (2028, ((320, 320), (256, 352)), (640, 640), 310.0),
}


def _inputs(variant: str):
    seed, shapes, first_ori, box_x2 = _BATCHES[variant]
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in shapes]
    metas = [{"img_shape": shapes[0], "ori_shape": first_ori, "scale_factor": (0.5, 0.5)},
             {"img_shape": shapes[1], "ori_shape": shapes[1], "scale_factor": (1.0, 1.0)}]  # fmt: skip
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, box_x2, 300.0], [5.0, 5.0, 60.0, 90.0],
                          [100.0, 100.0, 116.0, 130.0]]), torch.tensor([0, 17, 79, 3])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]  # fmt: skip
    return images, metas, gts


def _loss_record(losses) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    out, total = {}, torch.zeros(())
    for name in LOSS_NAMES:
        value = losses[name]
        value = sum(value) if isinstance(value, (list, tuple)) else value
        out[f"loss.{name}"] = value.detach().clone().reshape(())
        total = total + value
    return out, total


@pytest.mark.live
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_full_size_rtmdet_matches_mmdet(variant, tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.structures import InstanceData

    import visdet
    from visdet.structures import Instances

    register_all_modules()
    cfg = _mmdet_config(variant)
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    _randomise_state(ref_model, 5)
    with torch.no_grad():  # distances of about two strides: random weights alone give boxes with negative sides
        for conv in ref_model.bbox_head.rtm_reg:
            conv.bias += REG_BIAS
    path = tmp_path / f"rtmdet_{variant}_random.pth"
    _save_like_mmengine_runner(ref_model, path)

    model = visdet.build_detector(cfg.model.to_dict())
    assert list(model.state_dict()) == list(ref_model.state_dict())
    visdet.load_checkpoint(model, path)

    images, metas, gts = _inputs(variant)
    samples = []
    for meta, (boxes, labels) in zip(metas, gts):
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData(bboxes=boxes.clone(), labels=labels.clone())
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
    for i, tensor in enumerate(t for levels in raw_ref for t in levels):
        ref_out[f"forward.{i}"], got[f"forward.{i}"] = tensor, raw[i]
    for i, ref_res in enumerate(ref_results):
        pred = ref_res.pred_instances
        order = near_tie_order(pred.scores, pred.bboxes, pred.labels,
                               results[i].scores, results[i].bboxes, results[i].labels)  # fmt: skip
        results[i] = results[i][order]
        for field in ("bboxes", "scores", "labels"):
            ref_out[f"pred.{i}.{field}"] = getattr(pred, field).clone()
            got[f"pred.{i}.{field}"] = getattr(results[i], field).clone()
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
        gt_instances = [Instances(bboxes=b.clone(), labels=lab.clone()) for b, lab in gts]
        losses, total = _loss_record(model.loss(batch, batch_metas, gt_instances))
        total.backward()
    assert data["inputs"].dtype == batch.dtype == torch.float64
    assert all(value > 0 for value in losses.values()), "every loss term should be active"
    ref_out.update(ref_losses)
    got.update(losses)
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    case_key = VARIANTS[variant][1]
    result = compare_outputs(case_key, got, ref_out, exact=("pred.*.labels",))
    component, name = case_key.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
