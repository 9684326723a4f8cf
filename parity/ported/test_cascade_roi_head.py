# Ported from mmdet tests/test_models/test_roi_heads/test_cascade_roi_head.py (mmdet 3.3.0),
# rewritten for visdet. The RoI head is the one of mmdet's cascade-mask-rcnn R50-FPN config
# (visdet's preset equals it) with its train_cfg.rcnn list, on 1-channel features as
# upstream; upstream runs the loss test on GPU only, visdet's RoIAlign runs on CPU.
import pytest
import torch

from visdet.build import build_component
from visdet.config import load_config
from visdet.structures import Instances


def _roi_head_config():
    model = load_config("cascade_mask_rcnn_r50_fpn")["model"]
    roi_head = model["roi_head"]
    roi_head["train_cfg"] = model["train_cfg"]["rcnn"]
    roi_head["test_cfg"] = model["test_cfg"]["rcnn"]
    # upstream's features have one channel; the heads take what the extractors give
    for key in ("bbox_roi_extractor", "mask_roi_extractor"):
        roi_head[key]["out_channels"] = 1
    for head in roi_head["bbox_head"]:
        head.update(in_channels=1, num_classes=4)
    roi_head["mask_head"].update(in_channels=1, num_classes=4)
    return roi_head


def test_init():
    head = build_component("roi_head", _roi_head_config())
    assert head.num_stages == 3 and len(head.bbox_head) == 3 and len(head.bbox_roi_extractor) == 3
    assert head.with_mask and len(head.mask_head) == 3 and not head.share_roi_extractor
    assert len(head.bbox_assigner) == len(head.bbox_sampler) == 3
    assert [a.pos_iou_thr for a in head.bbox_assigner] == [0.5, 0.6, 0.7]


def _proposals(n=100, s=256):
    # upstream draws torch.randn boxes (mostly degenerate); visdet draws valid boxes
    xy = torch.rand(n, 2) * s * 0.6
    wh = torch.rand(n, 2) * s * 0.4 + 4
    return Instances(bboxes=torch.cat([xy, xy + wh], 1))


@pytest.mark.parametrize("num_gts", [1, 0])
def test_cascade_roi_head_loss(num_gts):
    s = 256
    torch.manual_seed(0)
    head = build_component("roi_head", _roi_head_config())
    feats = tuple(torch.rand(1, 1, s // 2 ** (i + 2), s // 2 ** (i + 2)) for i in range(4))
    metas = [{"img_shape": (s, s), "scale_factor": (1.0, 1.0)}]
    masks = torch.zeros(num_gts, s, s, dtype=torch.uint8)
    masks[:, 30:160, 20:120] = 1
    gt = Instances(
        bboxes=torch.tensor([[20.0, 30.0, 120.0, 160.0]])[:num_gts], labels=torch.tensor([2])[:num_gts], masks=masks
    )
    out = head.loss(feats, [_proposals()], [gt], batch_img_metas=metas)
    assert set(out) == {f"s{i}.{n}" for i in range(3) for n in ("loss_cls", "acc", "loss_bbox", "loss_mask")}
    for name, value in out.items():
        if "loss_cls" in name:
            assert value.sum() > 0
        elif num_gts and ("loss_bbox" in name or "loss_mask" in name):
            assert value.sum() >= 0
        elif "loss_bbox" in name or "loss_mask" in name:
            assert value.sum() == 0
