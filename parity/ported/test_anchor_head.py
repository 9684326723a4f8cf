# Ported from mmdet tests/test_models/test_dense_heads/test_anchor_head.py (mmdet 3.3.0),
# rewritten for visdet. mmdet 3.3 has no test of its own for RetinaHead (only for
# RetinaSepBNHead, which visdet does not have), and visdet has no plain AnchorHead: the
# anchor-head loss it tests is the one RetinaHead runs (anchor_head_loss), so a RetinaHead
# without stacked convs, with AnchorHead's default anchors and losses, stands in for it.
import torch

from parity.cases.heads_detector_retinanet import head_config
from visdet.build import build_component
from visdet.structures import Instances

# mmdet AnchorHead's defaults: anchors, coder, sigmoid CE and SmoothL1 (beta 1/9)
ANCHOR_HEAD = {
    "anchor_generator": {"type": "AnchorGenerator", "scales": [8, 16, 32], "ratios": [0.5, 1.0, 2.0],
                         "strides": [4, 8, 16, 32, 64]},
    "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "clip_border": True, "target_means": [0.0] * 4,
                   "target_stds": [1.0] * 4},
    "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
    "loss_bbox": {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0},
}  # fmt: skip
TRAIN_CFG = {
    "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3, "min_pos_iou": 0.3,
                 "match_low_quality": True, "ignore_iof_thr": -1},
    "sampler": {"type": "RandomSampler", "num": 256, "pos_fraction": 0.5, "neg_pos_ub": -1,
                "add_gt_as_proposals": False},
    "allowed_border": 0, "pos_weight": -1, "debug": False,
}  # fmt: skip


def _check_empty_and_one_gt_losses(head):
    """Upstream's checks on one 256x256 image: without gt a classification loss only, with one box both."""
    s = 256
    metas = [{"img_shape": (s, s), "pad_shape": (s, s), "scale_factor": (1.0, 1.0)}]
    torch.manual_seed(0)
    feats = [torch.rand(1, 1, s // 2 ** (i + 2), s // 2 ** (i + 2)) for i in range(5)]
    cls_scores, bbox_preds = head(feats)

    empty = Instances(bboxes=torch.empty(0, 4), labels=torch.zeros(0, dtype=torch.long))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [empty], metas)
    assert len(losses["loss_cls"]) == len(losses["loss_bbox"]) == 5
    assert sum(losses["loss_cls"]).item() > 0, "cls loss should be non-zero"
    assert sum(losses["loss_bbox"]).item() == 0, "no box loss without true boxes"

    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([2]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [one], metas)
    assert sum(losses["loss_cls"]).item() > 0, "cls loss should be non-zero"
    assert sum(losses["loss_bbox"]).item() > 0, "box loss should be non-zero"


def test_anchor_head_loss():
    """Empty ground truth: classification loss only; one box: both losses."""
    head = build_component("dense_head", {"type": "RetinaHead", "num_classes": 4, "in_channels": 1,
                                          "feat_channels": 1, "stacked_convs": 0, **ANCHOR_HEAD,
                                          "train_cfg": TRAIN_CFG})  # fmt: skip
    assert head.num_base_priors == 9 and head.cls_out_channels == 4
    _check_empty_and_one_gt_losses(head)


# Ported from mmdet tests/test_models/test_dense_heads/test_retina_sepBN_head.py (mmdet 3.3.0):
# its checks, run on RetinaHead (visdet has no RetinaSepBNHead, whose per-level convs are the
# only difference), with RetinaNet's focal loss and one-stage train settings.
def _retina_head(num_classes, stacked_convs):
    """RetinaNet's head and one-stage settings (the RetinaHead parity case's) at width 1."""
    cfg = head_config(1, num_classes, stacked_convs=stacked_convs)
    cfg.pop("test_cfg")
    return build_component("dense_head", cfg)


def test_retina_head_init():
    head = _retina_head(num_classes=1, stacked_convs=4)
    head.init_weights()
    assert len(head.cls_convs) == len(head.reg_convs) == 4
    assert head.retina_cls.out_channels == 9 and head.retina_reg.out_channels == 36


def test_retina_head_loss():
    """Empty ground truth: focal loss only; one box: both losses."""
    _check_empty_and_one_gt_losses(_retina_head(num_classes=4, stacked_convs=4))
