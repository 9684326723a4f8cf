import math

import pytest
import torch

from visdet.build import build_component
from visdet.models.dense_heads import ProposalConfig
from visdet.structures import Instances

STRIDES = [4, 8, 16, 32, 64]
HEAD_CFG = {
    "type": "RPNHead",
    "in_channels": 4,
    "feat_channels": 4,
    "anchor_generator": {"type": "AnchorGenerator", "scales": [8], "ratios": [0.5, 1.0, 2.0], "strides": STRIDES},
    "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4},
    "loss_cls": {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0},
    "loss_bbox": {"type": "L1Loss", "loss_weight": 1.0},
}
TRAIN_CFG = {  # the head's own settings (mmdet's train_cfg.rpn)
    "assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3, "min_pos_iou": 0.3,
                 "match_low_quality": True, "ignore_iof_thr": -1},
    "sampler": {"type": "RandomSampler", "num": 32, "pos_fraction": 0.5, "neg_pos_ub": -1,
                "add_gt_as_proposals": False},
    "allowed_border": -1, "pos_weight": -1, "debug": False,
}
TEST_CFG = {"nms_pre": 50, "max_per_img": 20, "nms": {"type": "nms", "iou_threshold": 0.7}, "min_bbox_size": 0}
SIZES = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
META = {"img_shape": (64, 64), "pad_shape": (64, 64), "scale_factor": (2.0, 2.0)}


def _head(num_convs=1):
    torch.manual_seed(0)
    cfg = {**HEAD_CFG, "num_convs": num_convs, "train_cfg": TRAIN_CFG, "test_cfg": TEST_CFG}
    return build_component("dense_head", cfg)


def _feats(batch=1):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 4, h, w, generator=g) for h, w in SIZES]


def test_forward_shapes_and_state_keys():
    head = _head()
    cls_scores, bbox_preds = head(_feats(2))
    assert [tuple(c.shape) for c in cls_scores] == [(2, 3, h, w) for h, w in SIZES]
    assert [tuple(b.shape) for b in bbox_preds] == [(2, 12, h, w) for h, w in SIZES]
    assert set(head.state_dict()) == {f"rpn_{n}.{p}" for n in ("conv", "cls", "reg") for p in ("weight", "bias")}
    deep = _head(num_convs=2)
    assert "rpn_conv.1.conv.weight" in deep.state_dict()


def test_empty_ground_truth_gives_finite_cls_loss_and_zero_box_loss():
    head = _head()
    feats = [f.requires_grad_(True) for f in _feats()]
    cls_scores, bbox_preds = head(feats)
    empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    losses = head.loss_by_feat(cls_scores, bbox_preds, [empty], [META])
    cls_total = sum(losses["loss_rpn_cls"])
    box_total = sum(losses["loss_rpn_bbox"])
    assert torch.isfinite(cls_total) and cls_total > 0
    assert box_total == 0
    (cls_total + box_total).backward()
    assert all(torch.isfinite(f.grad).all() for f in feats)


def test_gt_box_gives_positive_box_loss_and_labels_are_ignored():
    head = _head()
    cls_scores, bbox_preds = head(_feats())
    gt = Instances(bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0]]), labels=torch.tensor([7]))
    torch.manual_seed(3)
    losses = head.loss_by_feat(cls_scores, bbox_preds, [gt], [META])
    assert sum(losses["loss_rpn_bbox"]) > 0
    gt0 = Instances(bboxes=gt.bboxes, labels=torch.tensor([0]))
    torch.manual_seed(3)
    same = head.loss_by_feat(cls_scores, bbox_preds, [gt0], [META])
    for a, b in zip(losses["loss_rpn_cls"], same["loss_rpn_cls"]):
        assert torch.equal(a, b)


def test_proposals_are_limited_sorted_inside_and_rescaled():
    head = _head()
    cls_scores, bbox_preds = head(_feats())
    (props,) = head.predict_by_feat(cls_scores, bbox_preds, [META])
    assert 0 < len(props) <= 20
    assert torch.all(props.labels == 0)
    assert torch.all(props.bboxes >= 0) and torch.all(props.bboxes <= 64)
    assert torch.all(props.scores > 0) and torch.all(props.scores < 1)
    (scaled,) = head.predict_by_feat(cls_scores, bbox_preds, [META], rescale=True)
    assert torch.allclose(scaled.bboxes * 2.0, props.bboxes)


def test_min_bbox_size_can_remove_every_proposal():
    head = _head()
    cls_scores, bbox_preds = head(_feats())
    cfg = ProposalConfig(nms_pre=50, max_per_img=20, min_bbox_size=1000)
    (props,) = head.predict_by_feat(cls_scores, bbox_preds, [META], cfg=cfg)
    assert len(props) == 0 and props.bboxes.shape == (0, 4)


def test_nms_pre_keeps_top_scores_per_level():
    head = _head()
    cls_scores, bbox_preds = head(_feats())
    cfg = ProposalConfig(nms_pre=1, max_per_img=100, nms={"type": "nms", "iou_threshold": 1.0})
    (props,) = head.predict_by_feat(cls_scores, bbox_preds, [META], cfg=cfg)
    assert len(props) <= len(SIZES)
    best = sorted((c.sigmoid().max().item() for c in cls_scores), reverse=True)
    assert torch.allclose(props.scores.sort(descending=True).values, torch.tensor(best[: len(props)]))


def test_loss_needs_training_settings_and_matching_levels():
    head = build_component("dense_head", {**HEAD_CFG, "test_cfg": TEST_CFG})
    cls_scores, bbox_preds = head(_feats())
    with pytest.raises(ValueError, match="assigner"):
        head.loss_by_feat(cls_scores, bbox_preds, [], [META])
    with pytest.raises(ValueError, match=r"\(1, 5, 8, 8\)"):
        head([torch.zeros(1, 5, 8, 8)])
    assert math.isclose(head.test_proposals.max_per_img, 20)
