# Ported from mmdet tests/test_models/test_detectors/test_deformable_detr.py (mmdet 3.3.0),
# TestDeformableDETR.test_deformable_detr_head_loss, rewritten for visdet: the three mmdet configs
# (deformable-detr_r50, -refine_r50, -refine-twostage_r50) are visdet's presets with box refinement
# switched as mmdet's refine config does; init_weights as upstream, one random 256x256 image.
# Upstream's loss checks (empty gt: classification terms positive, box and IoU terms zero; one gt:
# every term positive), then _forward (visdet's forward) and predict in eval mode.
import pytest
import torch

from visdet import build_detector
from visdet.config import load_config
from visdet.structures import Instances

SIZE = 256
META = {"img_shape": (SIZE, SIZE), "scale_factor": (1, 1), "pad_shape": (SIZE, SIZE),
        "batch_input_shape": (SIZE, SIZE)}  # fmt: skip
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
    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([2]))
    empty = Instances(bboxes=torch.empty((0, 4)), labels=torch.zeros(0, dtype=torch.long))
    empty_losses = detector.loss(image, [META], [empty])
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
    one_losses = detector.loss(image, [META], [one])
    for key, loss in one_losses.items():
        assert loss.item() > 0, f"{key}: cls, box and iou losses should be non-zero"
    detector.eval()
    with torch.no_grad():
        raw = detector(image, [META])  # upstream's _forward
        results = detector.predict(image, [META], rescale=True)
    assert len(raw) == 2 * 6 and raw[0].shape == (1, 300, 80) and raw[6].shape == (1, 300, 4)
    (result,) = results
    assert result.bboxes.shape == (100, 4) and result.scores.shape == (100,) and result.labels.shape == (100,)
    assert bool((result.bboxes >= 0).all()) and bool((result.bboxes <= SIZE).all())
    assert bool(((result.labels >= 0) & (result.labels < 80)).all())
