"""DeformableDETRHead: branch layout, mmdet's init, forward on 2-d/4-d references, top-k prediction."""

import math

import pytest
import torch
from torch import nn

from visdet.models.dense_heads import DeformableDETRHead
from visdet.models.losses import FocalLoss
from visdet.structures.boxes import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh


def _head(**kwargs):
    options = {"num_classes": 3, "loss_cls": FocalLoss(), "embed_dims": 8, "num_pred_layer": 2, **kwargs}
    return DeformableDETRHead(**options)


def test_shared_branches_are_one_module_and_unshared_are_copies():
    shared = _head(share_pred_layer=True)
    assert shared.cls_branches[0] is shared.cls_branches[1] and shared.reg_branches[0] is shared.reg_branches[1]
    own = _head()
    assert own.cls_branches[0] is not own.cls_branches[1]
    assert torch.equal(own.cls_branches[0].weight, own.cls_branches[1].weight)  # deep copies of one init
    keys = set(own.state_dict())
    assert {"cls_branches.1.weight", "reg_branches.1.0.weight", "reg_branches.1.4.bias"} <= keys
    assert type(own.reg_branches[0][1]) is nn.ReLU and len(own.reg_branches[0]) == 2 * 2 + 1


def test_init_weights_prior_bias_zero_regressors_and_small_first_boxes():
    head = _head(num_pred_layer=3)
    head.init_weights()
    prior = -math.log((1 - 0.01) / 0.01)
    assert all(torch.allclose(b.bias, torch.full((3,), prior)) for b in head.cls_branches)
    assert all(float(b[-1].weight.detach().abs().sum()) == 0 for b in head.reg_branches)
    assert head.reg_branches[0][-1].bias.tolist() == [0.0, 0.0, -2.0, -2.0]
    assert head.reg_branches[1][-1].bias.tolist() == [0.0] * 4
    two_stage = _head(num_pred_layer=3, as_two_stage=True)
    two_stage.init_weights()
    assert all(b[-1].bias.tolist() == [0.0] * 4 for b in two_stage.reg_branches)


def test_forward_adds_the_reference_logit_before_the_sigmoid():
    head = _head()
    head.init_weights()  # zero regressors: boxes are the references (and w, h from the bias)
    hidden = torch.randn(2, 1, 4, 8)
    points = [torch.rand(1, 4, 2) * 0.8 + 0.1 for _ in range(3)]
    classes, boxes = head(hidden, points)
    assert classes.shape == (2, 1, 4, 3) and boxes.shape == (2, 1, 4, 4)
    assert torch.allclose(boxes[0, ..., :2], points[0], atol=1e-6)
    assert torch.allclose(boxes[1, ..., :2], points[1], atol=1e-6)
    assert torch.allclose(boxes[0, ..., 2:], torch.sigmoid(torch.tensor(-2.0)).expand(1, 4, 2))
    refs4 = [torch.rand(1, 4, 4) * 0.8 + 0.1 for _ in range(2)]
    _, boxes4 = head(hidden, refs4)
    assert torch.allclose(boxes4[1], refs4[1], atol=1e-6)
    with pytest.raises(ValueError, match="2 or 4"):
        head(hidden, [torch.rand(1, 4, 3)] * 2)
    with pytest.raises(ValueError, match="reference per decoder layer"):
        head(hidden, points[:1])


def test_predict_takes_the_top_query_class_pairs_scaled_clamped_and_rescaled():
    head = _head(test_cfg={"max_per_img": 3})
    logits = torch.full((2, 1, 2, 3), -9.0)
    logits[-1, 0, 1, 2], logits[-1, 0, 1, 0], logits[-1, 0, 0, 1] = 3.0, 2.0, 1.0
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.9, 0.1, 0.4, 0.4]]).expand(2, 1, 2, 4)
    meta = {"img_shape": (100, 200), "scale_factor": (2.0, 0.5)}
    (result,) = head.predict_by_feat(logits, boxes, [meta], rescale=True)
    assert result.labels.tolist() == [2, 0, 1]
    assert torch.allclose(result.scores, torch.sigmoid(torch.tensor([3.0, 2.0, 1.0])))
    # query 1: x 140..200 (clamped from 220), y 0 (clamped from -10)..30; then / (2, 0.5, 2, 0.5)
    assert torch.allclose(result.bboxes[0], torch.tensor([70.0, 0.0, 100.0, 60.0]))
    assert torch.allclose(result.bboxes[2], torch.tensor([40.0, 60.0, 60.0, 140.0]))
    (unscaled,) = head.predict_by_feat(logits, boxes, [{"img_shape": (100, 200)}], rescale=False)
    assert torch.allclose(unscaled.bboxes[0], torch.tensor([140.0, 0.0, 200.0, 30.0]))
    with pytest.raises(KeyError, match="scale_factor"):
        head.predict_by_feat(logits, boxes, [{"img_shape": (100, 200)}], rescale=True)


def test_loss_without_an_assigner_says_so():
    head = _head()
    with pytest.raises(AttributeError, match="train_cfg.assigner"):
        head.loss(torch.randn(2, 1, 4, 8), [torch.rand(1, 4, 2)] * 3, None, None, [], [{"img_shape": (8, 8)}])


def test_box_conversions_round_trip():
    boxes = torch.tensor([[1.0, 2.0, 5.0, 10.0], [0.0, 0.0, 0.5, 0.25]])
    assert torch.equal(bbox_xyxy_to_cxcywh(boxes), torch.tensor([[3.0, 6.0, 4.0, 8.0], [0.25, 0.125, 0.5, 0.25]]))
    assert torch.equal(bbox_cxcywh_to_xyxy(bbox_xyxy_to_cxcywh(boxes)), boxes)


def test_dino_loss_without_an_assigner_says_so():
    from visdet.models.dense_heads import DINOHead

    head = DINOHead(num_classes=3, loss_cls=FocalLoss(), embed_dims=8, num_pred_layer=2)
    with pytest.raises(AttributeError, match="DINOHead has no assigner: give train_cfg.assigner"):
        head.loss(torch.randn(2, 1, 4, 8), [torch.rand(1, 4, 2)] * 3, None, None, [], [{"img_shape": (8, 8)}])
