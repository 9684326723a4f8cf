# Ported from mmdet tests/test_models/test_dense_heads/test_rpn_head.py (mmdet 3.3.0),
# rewritten for visdet's RPNHead (built through the mmdet-config builder).
import pytest
import torch

from visdet.build import build_component
from visdet.models.dense_heads import ProposalConfig
from visdet.models.dense_heads.proposals import proposals_single
from visdet.structures import Instances

ANCHORS = {"type": "AnchorGenerator", "scales": [8], "ratios": [0.5, 1.0, 2.0], "strides": [4, 8, 16, 32, 64]}
TRAIN = {"rpn": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3, "min_pos_iou": 0.3,
                              "ignore_iof_thr": -1},
                 "sampler": {"type": "RandomSampler", "num": 256, "pos_fraction": 0.5, "neg_pos_ub": -1,
                             "add_gt_as_proposals": False},
                 "allowed_border": 0, "pos_weight": -1, "debug": False}}


def _head(**kwargs):
    cfg = {"type": "RPNHead", "in_channels": 1, "anchor_generator": ANCHORS, **kwargs}
    return build_component("dense_head", {**cfg, "train_cfg": TRAIN["rpn"]})


def test_init():
    head = _head()
    assert isinstance(head.rpn_conv, torch.nn.Conv2d) and head.rpn_cls and head.rpn_reg
    head = _head(num_convs=2)
    assert len(head.rpn_conv) == 2 and head.rpn_cls and head.rpn_reg


def test_rpn_head_loss():
    s = 256
    metas = [{"img_shape": (s, s, 3), "pad_shape": (s, s), "scale_factor": 1}]
    head = _head()
    feats = [torch.rand(1, 1, s // (2 ** (i + 2)), s // (2 ** (i + 2))) for i in range(5)]
    cls_scores, bbox_preds = head(feats)
    empty = Instances(bboxes=torch.empty(0, 4), labels=torch.zeros(0, dtype=torch.long))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [empty], metas)
    assert sum(losses["loss_rpn_cls"]).item() > 0
    assert sum(losses["loss_rpn_bbox"]).item() == 0
    one = Instances(bboxes=torch.tensor([[23.6667, 23.8757, 238.6326, 151.8874]]), labels=torch.tensor([0]))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [one], metas)
    assert sum(losses["loss_rpn_cls"]).item() > 0
    assert sum(losses["loss_rpn_bbox"]).item() > 0
    # no anchor lies inside an 8x8 image with allowed_border=0
    with pytest.raises(ValueError, match="no anchor"):
        head.loss_by_feat(cls_scores, bbox_preds, [one], [{"img_shape": (8, 8, 3), "pad_shape": (s, s)}])


def test_bbox_post_process():
    # upstream calls the private _bbox_post_process with zero boxes; visdet's public
    # proposal function gets there with every box removed by min_bbox_size
    cfg = ProposalConfig(nms_pre=1000, max_per_img=1000, nms={"type": "nms", "iou_threshold": 0.7},
                         min_bbox_size=1e9)
    head = _head()
    cls_scores, bbox_preds = head([torch.rand(1, 1, 8, 8)] + [torch.rand(1, 1, 4 // 2**i or 1, 4 // 2**i or 1)
                                                            for i in range(4)])
    anchors = head.prior_generator.grid_priors([tuple(c.shape[-2:]) for c in cls_scores])
    res = proposals_single([c[0] for c in cls_scores], [b[0] for b in bbox_preds], anchors,
                           {"img_shape": (32, 32)}, cfg=cfg, bbox_coder=head.bbox_coder)
    assert len(res) == 0
    assert res.bboxes.shape == (0, 4) and res.scores.shape == (0,) and res.labels.shape == (0,)
