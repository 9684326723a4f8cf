# Ported from mmdet tests/test_models/test_detectors/test_dino.py (mmdet 3.3.0), TestDINO.test_dino_head_loss,
# rewritten for visdet: mmdet's dino-4scale_r50_8xb2-12e_coco.py model is visdet's preset dino_4scale_r50;
# init_weights as upstream, one random 256x256 image. Upstream's loss checks (empty gt: every box, IoU and
# denoising term zero, every other classification term positive; one gt: every term positive), then
# _forward (visdet's forward) and predict in eval mode.
import torch

from visdet import build_detector
from visdet.structures import Instances

SIZE = 256
META = {"img_shape": (SIZE, SIZE), "scale_factor": (1, 1), "pad_shape": (SIZE, SIZE),
        "batch_input_shape": (SIZE, SIZE)}  # fmt: skip


def test_dino_head_loss():
    torch.manual_seed(0)
    detector = build_detector("dino_4scale_r50")
    detector.init_weights()
    image = torch.rand(1, 3, SIZE, SIZE)

    empty = Instances(bboxes=torch.empty((0, 4)), labels=torch.zeros(0, dtype=torch.long))
    empty_losses = detector.loss(image, [META], [empty])
    assert {"dn_loss_cls", "d4.dn_loss_iou", "enc_loss_cls", "d0.loss_bbox"} <= set(empty_losses)
    for key, loss in empty_losses.items():
        if "bbox" in key or "iou" in key or "dn" in key:
            assert loss.item() == 0, f"{key}: no box, iou or denoising loss without ground truth"
        elif "cls" in key:
            assert loss.item() > 0, f"{key}: cls loss should be non-zero"

    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([2]))
    one_losses = detector.loss(image, [META], [one])
    assert len(one_losses) == 3 * 6 + 3 + 3 * 6  # matching and denoising terms of 6 layers, the encoder's
    for key, loss in one_losses.items():
        assert loss.item() > 0, f"{key}: cls, box and iou losses should be non-zero"

    detector.eval()
    with torch.no_grad():
        raw = detector(image, [META])  # upstream's _forward
        results = detector.predict(image, [META], rescale=True)
    assert len(raw) == 2 * 6 and raw[0].shape == (1, 900, 80) and raw[6].shape == (1, 900, 4)
    (result,) = results
    assert result.bboxes.shape == (300, 4) and result.scores.shape == (300,) and result.labels.shape == (300,)
    assert bool((result.bboxes >= 0).all()) and bool((result.bboxes <= SIZE).all())
    assert bool(((result.labels >= 0) & (result.labels < 80)).all())
