# Ported from mmdet tests/test_models/test_detectors/test_deformable_detr.py (mmdet 3.3.0),
# TestDeformableDETR.test_deformable_detr_head_loss, rewritten for visdet: the three mmdet configs
# (deformable-detr_r50, -refine_r50, -refine-twostage_r50) are visdet's presets with box refinement
# switched as mmdet's refine config does; init_weights as upstream, one random 256x256 image.
# Upstream's loss checks (empty gt: classification terms positive, box and IoU terms zero; one gt:
# every term positive), then _forward (visdet's forward) and predict in eval mode.
import pytest
import torch

from parity.ported._detr_common import META, SIZE, check_eval_outputs, empty_gt, one_gt
from visdet import build_detector
from visdet.config import load_config

VARIANTS = {"plain": ("deformable_detr_r50", False), "refine": ("deformable_detr_r50", True),
            "refine_twostage": ("deformable_detr_refine_twostage_r50", True)}  # fmt: skip


def _detector(variant):
    preset, refine = VARIANTS[variant]
    cfg = load_config(preset)["model"]
    cfg["with_box_refine"] = refine
    torch.manual_seed(0)
    detector = build_detector(cfg)
    detector.init_weights()
    return detector


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_deformable_detr_head_loss(variant):
    detector = _detector(variant)
    image = torch.rand(1, 3, SIZE, SIZE)
    empty_losses = detector.loss(image, [META], [empty_gt()])
    names = {
        f"{prefix}loss_{term}" for prefix in ["", *(f"d{i}." for i in range(5))] for term in ("cls", "bbox", "iou")
    }
    if variant == "refine_twostage":
        names |= {"enc_loss_cls", "enc_loss_bbox", "enc_loss_iou"}
    assert set(empty_losses) == names
    for key, loss in empty_losses.items():
        if "cls" in key:
            assert loss.item() > 0, f"{key}: cls loss should be non-zero"
        elif "bbox" in key or "iou" in key:
            assert loss.item() == 0, f"{key}: no box or iou loss without ground truth"
    one_losses = detector.loss(image, [META], [one_gt()])
    for key, loss in one_losses.items():
        assert loss.item() > 0, f"{key}: cls, box and iou losses should be non-zero"
    check_eval_outputs(detector, image, num_queries=300, max_per_img=100)
