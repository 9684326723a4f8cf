# Ported from mmdet tests/test_models/test_roi_heads/test_standard_roi_head.py (mmdet 3.3.0),
# rewritten for visdet: box and mask branches (mmdet's shared-head variant is not in visdet).
# Upstream runs the loss test on GPU only; visdet's RoIAlign runs on CPU.
import torch

from visdet.build import build_component
from visdet.structures import Instances

ROI_HEAD = {
    "type": "StandardRoIHead",
    "bbox_roi_extractor": {"type": "SingleRoIExtractor", "roi_layer": {"type": "RoIAlign", "output_size": 7,
                                                                       "sampling_ratio": 0},
                           "out_channels": 1, "featmap_strides": [4, 8, 16, 32]},
    "bbox_head": {"type": "Shared2FCBBoxHead", "in_channels": 1, "fc_out_channels": 1, "num_classes": 4},
    "mask_roi_extractor": {"type": "SingleRoIExtractor", "roi_layer": {"type": "RoIAlign", "output_size": 14,
                                                                       "sampling_ratio": 0},
                           "out_channels": 1, "featmap_strides": [4, 8, 16, 32]},
    "mask_head": {"type": "FCNMaskHead", "num_convs": 1, "in_channels": 1, "conv_out_channels": 1, "num_classes": 4},
}
TRAIN = {"rcnn": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.5, "min_pos_iou": 0.5,
                               "match_low_quality": True, "ignore_iof_thr": -1},
                  "sampler": {"type": "RandomSampler", "num": 512, "pos_fraction": 0.25, "neg_pos_ub": -1,
                              "add_gt_as_proposals": True},
                  "mask_size": 28, "pos_weight": -1, "debug": False}}
TEST = {"rcnn": {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 100,
                 "mask_thr_binary": 0.5}}


def test_init():
    head = build_component("roi_head", {**ROI_HEAD, "train_cfg": TRAIN["rcnn"], "test_cfg": TEST["rcnn"]})
    assert head.bbox_head is not None and head.bbox_roi_extractor is not None
    assert head.bbox_assigner is not None and head.bbox_sampler is not None
    assert head.with_mask and head.mask_head is not None and not head.share_roi_extractor


def _proposals(n=100, s=256):
    xy = torch.rand(n, 2) * s * 0.6
    wh = torch.rand(n, 2) * s * 0.4 + 4
    return Instances(bboxes=torch.cat([xy, xy + wh], 1))


def test_standard_roi_head_loss():
    s = 256
    torch.manual_seed(0)
    head = build_component("roi_head", {**ROI_HEAD, "train_cfg": TRAIN["rcnn"], "test_cfg": TEST["rcnn"]})
    feats = tuple(torch.rand(1, 1, s // 2 ** (i + 2), s // 2 ** (i + 2)) for i in range(4))
    masks = torch.zeros(1, s, s, dtype=torch.uint8)
    masks[0, 30:160, 20:120] = 1
    gt = Instances(bboxes=torch.tensor([[20.0, 30.0, 120.0, 160.0]]), labels=torch.tensor([2]), masks=masks)
    out = head.loss(feats, [_proposals()], [gt])
    assert out["loss_cls"].sum() > 0 and out["loss_bbox"].sum() > 0 and out["loss_mask"].sum() > 0
    empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                      masks=torch.zeros(0, s, s, dtype=torch.uint8))
    out = head.loss(feats, [_proposals()], [empty])
    assert out["loss_cls"].sum() > 0 and out["loss_bbox"].sum() == 0 and out["loss_mask"].sum() == 0
