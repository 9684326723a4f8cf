"""RTMDet's head, assigner and losses: hand-computed values, structure and invariants."""

import math

import pytest
import torch

from visdet.build import build_component
from visdet.models.layers.sigmoid_mean import inverse_sigmoid, sigmoid_geometric_mean
from visdet.models.losses import GIoULoss, QualityFocalLoss
from visdet.models.task_modules import DynamicSoftLabelAssigner
from visdet.structures import Instances

TINY_HEAD = {
    "type": "RTMDetSepBNHead", "num_classes": 80, "in_channels": 96, "stacked_convs": 2, "feat_channels": 96,
    "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": [8, 16, 32]},
    "bbox_coder": {"type": "DistancePointBBoxCoder"},
    "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0, "loss_weight": 1.0},
    "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0}, "with_objectness": False, "exp_on_reg": False,
    "share_conv": True, "pred_kernel_size": 1, "norm_cfg": {"type": "SyncBN"},
    "act_cfg": {"type": "SiLU", "inplace": True},
    "train_cfg": {"assigner": {"type": "DynamicSoftLabelAssigner", "topk": 13}, "allowed_border": -1,
                  "pos_weight": -1, "debug": False},
    "test_cfg": {"nms_pre": 30000, "min_bbox_size": 0, "score_thr": 0.001,
                 "nms": {"type": "nms", "iou_threshold": 0.65}, "max_per_img": 300},
}  # fmt: skip
SMALL = {**TINY_HEAD, "num_classes": 3, "in_channels": 4, "feat_channels": 4, "norm_cfg": {"type": "BN"},
         "test_cfg": {**TINY_HEAD["test_cfg"], "max_per_img": 7}}  # fmt: skip


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _bce(p: float, t: float) -> float:
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_qfl_by_hand():
    pred = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=torch.float64)
    labels, scores = torch.tensor([1, 2]), torch.tensor([0.6, 0.9], dtype=torch.float64)  # 2: background
    loss = QualityFocalLoss(beta=2.0, reduction="none")(pred, (labels, scores))
    p = [[_sigmoid(v) for v in row] for row in pred.tolist()]
    first = _bce(p[0][0], 0) * p[0][0] ** 2 + _bce(p[0][1], 0.6) * abs(0.6 - p[0][1]) ** 2
    second = sum(_bce(q, 0) * q**2 for q in p[1])
    assert loss.tolist() == pytest.approx([first, second], rel=1e-12)
    weighted = QualityFocalLoss(loss_weight=2.0)(pred, (labels, scores), torch.tensor([1.0, 0.5]), avg_factor=3.0)
    assert weighted.item() == pytest.approx(2.0 * (first + 0.5 * second) / (3.0 + torch.finfo(torch.float32).eps))


def test_qfl_tensor_target_equals_the_pair_form():
    pred = torch.randn(6, 4, dtype=torch.float64)
    labels, scores = torch.tensor([0, 4, 2, 3, 4, 1]), torch.rand(6, dtype=torch.float64) * 0.9 + 0.05
    dense = torch.zeros(6, 4, dtype=torch.float64)
    pos = labels < 4
    dense[pos.nonzero().squeeze(1), labels[pos]] = scores[pos]
    module = QualityFocalLoss(reduction="none")
    assert torch.allclose(module(pred, dense), module(pred, (labels, scores)), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="shape"):
        module(pred, dense[:, :3])
    with pytest.raises(ValueError, match="sigmoid"):
        QualityFocalLoss(use_sigmoid=False)


def test_giou_loss_by_hand_and_its_zero_weight_shortcut():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    target = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    loss = GIoULoss()(pred, target)
    assert loss.item() == pytest.approx(1 - (1 / 7 - 2 / 9), rel=1e-6)
    zero = GIoULoss()(pred, target, weight=torch.zeros(1), reduction_override="none")
    assert zero.item() == 0 and zero.requires_grad  # mmdet's shortcut comes before the reduction


def _points(xy, stride=8.0):
    xy = torch.tensor(xy, dtype=torch.float32)
    return torch.cat([xy, torch.full_like(xy, stride)], 1)


def test_assigner_dynamic_k_from_the_ious():
    gt = Instances(bboxes=torch.tensor([[0.0, 0.0, 32.0, 32.0]]), labels=torch.tensor([1]))
    priors = _points([[8, 8], [16, 16], [24, 24], [40, 40]])
    boxes = torch.tensor([[0.0, 0.0, 32.0, 32.0], [0.0, 0.0, 32.0, 32.0], [100.0, 100, 110, 110], [0, 0, 32, 32]])
    pred = Instances(priors=priors, bboxes=boxes, scores=torch.zeros(4, 3))
    result = DynamicSoftLabelAssigner().assign(pred, gt)
    # IoUs 1, 1, 0 inside the gt: k = int(2) = 2, the two perfect boxes; (40, 40) lies outside the gt
    assert result.gt_inds.tolist() == [1, 1, 0, 0] and result.labels.tolist() == [1, 1, -1, -1]
    assert result.max_overlaps.tolist() == [1.0, 1.0, -1e8, -1e8] and result.max_overlaps.dtype == torch.float32


def test_assigner_prior_claimed_twice_goes_to_the_cheaper_gt():
    gts = Instances(bboxes=torch.tensor([[0.0, 0.0, 32.0, 32.0], [8.0, 8.0, 40.0, 40.0]]), labels=torch.tensor([0, 1]))
    priors = _points([[16, 16]])  # inside both; the only candidate, so both gts take it (k >= 1)
    pred = Instances(priors=priors, bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0]]), scores=torch.zeros(1, 2))
    result = DynamicSoftLabelAssigner().assign(pred, gts)
    assert result.gt_inds.tolist() == [2] and result.labels.tolist() == [1]  # IoU 1 with gt 2: cheaper


def test_assigner_without_gt_or_candidates_is_all_negative():
    priors = _points([[8, 8], [16, 16]])
    pred = Instances(priors=priors, bboxes=torch.rand(2, 4, dtype=torch.float64), scores=torch.zeros(2, 2))
    empty = DynamicSoftLabelAssigner().assign(pred, Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()))
    far = DynamicSoftLabelAssigner().assign(pred, Instances(bboxes=torch.tensor([[50.0, 50, 60, 60]]),
                                                            labels=torch.tensor([0])))  # fmt: skip
    for result in (empty, far):
        assert result.gt_inds.tolist() == [0, 0] and result.labels.tolist() == [-1, -1]
        assert result.max_overlaps.tolist() == [0, 0] and result.max_overlaps.dtype == torch.float64
    with pytest.raises(ValueError, match="strides"):
        DynamicSoftLabelAssigner().assign(Instances(priors=priors[:, :2], bboxes=priors, scores=pred.scores),
                                          Instances(bboxes=torch.ones(1, 4), labels=torch.zeros(1).long()))  # fmt: skip


def test_sigmoid_geometric_mean_and_inverse():
    x = torch.tensor([-3.0, 0.0, 2.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, -0.5, 4.0], dtype=torch.float64, requires_grad=True)
    z = sigmoid_geometric_mean(x, y)
    z.sum().backward()
    xr, yr = x.detach().clone().requires_grad_(True), y.detach().clone().requires_grad_(True)
    (xr.sigmoid() * yr.sigmoid()).sqrt().sum().backward()
    assert torch.allclose(z, (x.sigmoid() * y.sigmoid()).sqrt()) and torch.allclose(x.grad, xr.grad)
    assert torch.allclose(y.grad, yr.grad)
    assert torch.allclose(inverse_sigmoid(x.detach().sigmoid()), x.detach())
    assert inverse_sigmoid(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([math.log(1e-5), -math.log(1e-5)])


def test_tiny_head_has_mmdets_layout_and_init():
    head = build_component("dense_head", TINY_HEAD)
    state = head.state_dict()
    assert len(head.cls_convs) == 3 and len(head.cls_convs[0]) == 2 and len(head.rtm_cls) == 3
    assert state["cls_convs.2.1.conv.weight"].shape == (96, 96, 3, 3)
    assert state["rtm_cls.1.weight"].shape == (80, 96, 1, 1) and state["rtm_reg.0.weight"].shape == (4, 96, 1, 1)
    assert "rtm_obj.0.weight" not in state and "scales.0.scale" not in state
    assert head.cls_convs[2][1].conv is head.cls_convs[0][1].conv  # shared convs
    assert head.cls_convs[2][1].bn is not head.cls_convs[0][1].bn  # separate BN
    assert isinstance(head.cls_convs[0][0].bn, torch.nn.SyncBatchNorm)
    assert head.rtm_cls[2].bias.unique().item() == pytest.approx(-math.log(99))
    assert head.rtm_reg[2].bias.abs().max().item() == 0 and head.cls_convs[1][0].bn.weight.unique().item() == 1.0
    assert head.cls_convs[0][0].conv.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert type(head.loss_centerness).__name__ == "CrossEntropyLoss"  # built, never used (mmdet's ATSSHead)


def _metas():
    return [
        {"img_shape": (60, 64), "pad_shape": (64, 64), "scale_factor": (2.0, 2.0), "ori_shape": (30, 32)},
        {"img_shape": (40, 48), "pad_shape": (40, 48), "scale_factor": (1.0, 1.0), "ori_shape": (40, 48)},
    ]


def test_forward_distances_are_scaled_by_the_stride():
    torch.manual_seed(0)
    head = build_component("dense_head", SMALL).eval()
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4), torch.randn(2, 4, 2, 2)]
    _, bbox_preds = head(feats)
    reg = head.reg_convs[1][1](head.reg_convs[1][0](feats[1]))
    assert torch.allclose(bbox_preds[1], head.rtm_reg[1](reg) * 16)
    exp_head = build_component("dense_head", {**SMALL, "exp_on_reg": True}).eval()
    assert all(bool((pred > 0).all()) for pred in exp_head(feats)[1])
    with pytest.raises(ValueError, match="levels"):
        head(feats[:2])


def test_loss_without_gt_and_predict_within_the_image():
    torch.manual_seed(1)
    head = build_component("dense_head", SMALL)
    feats = [torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 4, 4, 4), torch.randn(2, 4, 2, 2)]
    empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    losses = head.loss(feats, [empty, empty], _metas())
    assert len(losses["loss_cls"]) == 3 and all(t.item() == 0 for t in losses["loss_bbox"])
    sum(losses["loss_cls"] + losses["loss_bbox"]).backward()
    assert feats[0].grad is not None and feats[0].grad.abs().sum() > 0
    head.eval()
    results = head.predict([f.detach() for f in feats], _metas(), rescale=False)
    for res, meta in zip(results, _metas()):
        h, w = meta["img_shape"]
        assert 0 < len(res.bboxes) <= 7 and bool((res.bboxes[:, 2] <= w).all()) and bool((res.bboxes[:, 3] <= h).all())


def test_loss_trains_positives_and_needs_the_training_settings():
    torch.manual_seed(2)
    head = build_component("dense_head", SMALL)
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4), torch.randn(2, 4, 2, 2)]
    gts = [Instances(bboxes=torch.tensor([[4.0, 4.0, 40.0, 50.0]]), labels=torch.tensor([2])),
           Instances(bboxes=torch.tensor([[10.0, 6.0, 30.0, 30.0]]), labels=torch.tensor([0]))]  # fmt: skip
    losses = head.loss(feats, gts, _metas())
    assert sum(losses["loss_bbox"]).item() > 0
    untrained = build_component("dense_head", {k: v for k, v in SMALL.items() if k != "train_cfg"})
    with pytest.raises(ValueError, match="train_cfg"):
        untrained.loss(feats, gts, _metas())
