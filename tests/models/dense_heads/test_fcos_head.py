"""FCOS head, its targets and the anchor-free task modules: hand-computed values and invariants."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.build import build_component
from visdet.models.dense_heads.fcos_targets import INF, centerness_target, fcos_targets
from visdet.models.layers import Scale
from visdet.models.losses import IoULoss
from visdet.models.task_modules import DistancePointBBoxCoder, MlvlPointGenerator
from visdet.structures import Instances

HEAD = {"type": "FCOSHead", "num_classes": 3, "in_channels": 4, "feat_channels": 4, "stacked_convs": 1,
        "strides": [8, 16], "regress_ranges": [[-1, 16], [16, INF]], "norm_cfg": {"type": "GN", "num_groups": 2},
        "test_cfg": {"score_thr": 0.0, "nms": {"type": "nms", "iou_threshold": 0.5}, "max_per_img": 5}}  # fmt: skip


def test_targets_pick_the_level_by_regress_range_and_the_smallest_box():
    points = MlvlPointGenerator([8, 16]).grid_priors([(4, 4), (2, 2)])
    big = [0.0, 0.0, 32.0, 32.0]  # max distance from (12, 12): 20 -> level 2 only (16, INF]
    small = [8.0, 8.0, 16.0, 16.0]  # contains (12, 12) with distances 4: level 1
    gt = Instances(bboxes=torch.tensor([big, small]), labels=torch.tensor([2, 1]))
    labels, targets = fcos_targets(points, [gt], num_classes=3, strides=[8, 16], regress_ranges=[[-1, 16], [16, INF]])
    # level 1: point (12, 12) is index 1 * 4 + 1 = 5; only the small box is in range there
    assert labels[0][5] == 1 and targets[0][5].tolist() == [4.0, 4.0, 4.0, 4.0]
    # point (4, 4) lies in the big box with max distance 28 > 16: background on level 1
    assert labels[0][0] == 3
    # level 2: point (8, 8) in the big box, distances (8, 8, 24, 24), max 24 in (16, INF]
    assert labels[1][0] == 2 and targets[1][0].tolist() == [8.0, 8.0, 24.0, 24.0]


def test_targets_with_no_gt_are_background():
    points = MlvlPointGenerator([8]).grid_priors([(2, 3)])
    gt = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    labels, targets = fcos_targets(points, [gt, gt], num_classes=5, strides=[8], regress_ranges=[[-1, INF]])
    assert labels[0].tolist() == [5] * 12 and targets[0].shape == (12, 4) and not targets[0].any()


def test_centerness_is_one_at_the_centre_and_the_geometric_ratio_elsewhere():
    values = centerness_target(torch.tensor([[5.0, 5.0, 5.0, 5.0], [2.0, 1.0, 8.0, 4.0]]))
    assert values[0] == 1.0
    assert values[1].item() == pytest.approx(math.sqrt((2 / 8) * (1 / 4)))
    assert centerness_target(torch.zeros(0, 4)).shape == (0,)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.5, 40.0), min_size=4, max_size=4), st.floats(0, 64), st.floats(0, 64))
def test_distance_coder_decode_inverts_encode(dist, x, y):
    coder = DistancePointBBoxCoder()
    points = torch.tensor([[x, y]], dtype=torch.float64)
    boxes = coder.decode(points, torch.tensor([dist], dtype=torch.float64))
    assert torch.allclose(coder.encode(points, boxes), torch.tensor([dist], dtype=torch.float64))


def test_distance_coder_clips_to_the_image_and_caps_distances():
    coder = DistancePointBBoxCoder()
    boxes = coder.decode(torch.tensor([[10.0, 10.0]]), torch.tensor([[20.0, 5.0, 50.0, 5.0]]), max_shape=(30, 40))
    assert boxes.tolist() == [[0.0, 5.0, 40.0, 15.0]]
    capped = coder.encode(torch.tensor([[10.0, 10.0]]), torch.tensor([[-30.0, 0.0, 12.0, 60.0]]), max_dis=16.0)
    assert capped.tolist() == [[pytest.approx(15.9), 10.0, 2.0, pytest.approx(15.9)]]
    assert DistancePointBBoxCoder(clip_border=False).decode(
        torch.tensor([[10.0, 10.0]]), torch.tensor([[20.0, 5.0, 50.0, 5.0]]), max_shape=(30, 40)
    ).tolist() == [[-10.0, 5.0, 60.0, 15.0]]


def test_iou_loss_modes_on_half_overlapping_boxes():
    pred, target = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 0.0, 3.0, 2.0]])  # IoU 1/3
    assert IoULoss(mode="log")(pred, target).item() == pytest.approx(math.log(3))
    assert IoULoss(mode="linear")(pred, target).item() == pytest.approx(2 / 3)
    assert IoULoss(mode="square")(pred, target).item() == pytest.approx(8 / 9)
    with pytest.warns(DeprecationWarning):
        assert IoULoss(linear=True).mode == "linear"
    with pytest.raises(ValueError, match="mode"):
        IoULoss(mode="cube")


def test_scale_is_a_float32_scalar_parameter():
    scale = Scale(2.0)
    assert scale.scale.dtype == torch.float32 and scale.scale.shape == ()
    assert scale(torch.ones(2)).tolist() == [2.0, 2.0]


def test_head_init_and_old_checkpoint_names():
    head = build_component("dense_head", HEAD)
    assert head.conv_cls.bias[0].item() == pytest.approx(-math.log(99))  # prior probability 0.01
    assert float(head.cls_convs[0].conv.weight.detach().std()) < 0.05  # N(0, 0.01), not ConvModule's He init
    state = head.state_dict()
    old = {key.replace("conv_cls", "fcos_cls").replace("conv_reg", "fcos_reg").replace("conv_centerness",
                                                                                        "fcos_centerness"): value
           for key, value in state.items()}  # fmt: skip
    other = build_component("dense_head", HEAD)
    other.load_state_dict(dict(old), strict=True)  # a plain dict has no version metadata
    assert torch.equal(other.conv_centerness.weight, head.conv_centerness.weight)


def test_head_loss_and_predict_shapes():
    head = build_component("dense_head", HEAD)
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)]
    cls_scores, bbox_preds, centernesses = head(feats)
    assert [t.shape for t in centernesses] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    assert all(bool((t > 0).all()) for t in bbox_preds)  # exp of the scaled regression
    metas = [{"img_shape": (64, 64), "pad_shape": (64, 64), "scale_factor": (1.0, 1.0)}] * 2
    gts = [Instances(bboxes=torch.tensor([[4.0, 4.0, 40.0, 30.0]]), labels=torch.tensor([1])),
           Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))]  # fmt: skip
    losses = head.loss(feats, gts, metas)
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_centerness"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    head.eval()
    results = head.predict(feats, metas, rescale=True)
    assert len(results) == 2 and results[0].bboxes.shape == (5, 4)
    with pytest.raises(ValueError, match="gt entries"):
        head.loss(feats, gts[:1], metas)
