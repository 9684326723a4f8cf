# Ported from mmdet tests/test_models/test_detectors/test_dino.py (mmdet 3.3.0), TestDINO.test_dino_head_loss,
# rewritten for visdet: mmdet's dino-4scale_r50_8xb2-12e_coco.py model is visdet's preset dino_4scale_r50;
# init_weights as upstream, one random 256x256 image. Upstream's loss checks (empty gt: every box, IoU and
# denoising term zero, every other classification term positive; one gt: every term positive), then
# _forward (visdet's forward) and predict in eval mode.
import torch

from parity.ported._detr_common import META, SIZE, check_eval_outputs, empty_gt, one_gt
from visdet import build_detector


def test_dino_head_loss():
    torch.manual_seed(0)
    detector = build_detector("dino_4scale_r50")
    detector.init_weights()
    image = torch.rand(1, 3, SIZE, SIZE)

    empty_losses = detector.loss(image, [META], [empty_gt()])
    assert {"dn_loss_cls", "d4.dn_loss_iou", "enc_loss_cls", "d0.loss_bbox"} <= set(empty_losses)
    for key, loss in empty_losses.items():
        if "bbox" in key or "iou" in key or "dn" in key:
            assert loss.item() == 0, f"{key}: no box, iou or denoising loss without ground truth"
        elif "cls" in key:
            assert loss.item() > 0, f"{key}: cls loss should be non-zero"

    one_losses = detector.loss(image, [META], [one_gt()])
    assert len(one_losses) == 3 * 6 + 3 + 3 * 6  # matching and denoising terms of 6 layers, the encoder's
    for key, loss in one_losses.items():
        assert loss.item() > 0, f"{key}: cls, box and iou losses should be non-zero"

    check_eval_outputs(detector, image, num_queries=900, max_per_img=300)
