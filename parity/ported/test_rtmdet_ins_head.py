# Ported from mmyolo tests/test_models/test_dense_heads/test_rtmdet_head.py (TestRTMDetInsHead:
# test_init_weights, test_predict_by_feat), rewritten for visdet's mmdet-API heads; mmdet 3.3
# ships no RTMDet-Ins head test of its own (an earlier header here named a mmdet
# test_rtmdet_ins_head.py, which does not exist). Both heads (RTMDetInsHead, RTMDetInsSepBNHead)
# are built and initialised, and predict masks with and without rescale; as upstream, a meta
# carrying mmyolo's letterbox key pad_param predicts as one without it (visdet, like mmdet, reads
# no pad_param). mmyolo's AssertionError for with_nms=False has no counterpart: visdet's
# predict_by_feat has no with_nms switch (mmdet's RTMDet-Ins refuses with_nms=False too). The
# loss checks (empty gt, or a gt holding no prior centre: class loss only; one gt: every term
# positive) follow TestRTMDetHead.test_loss_by_feat with masks added; the numbers are covered by the
# rtmdet_ins_head parity cases.
import numpy as np
import pytest
import torch

from visdet.build import build_component
from visdet.structures import Instances

S = 128
STRIDES = [8, 16, 32]


def _cfg(head_type: str) -> dict:
    cfg = {
        "type": head_type, "num_classes": 4, "in_channels": 1, "feat_channels": 8, "stacked_convs": 1,
        "num_prototypes": 4, "dyconv_channels": 4,
        "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": STRIDES},
        "bbox_coder": {"type": "DistancePointBBoxCoder"},
        "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0, "loss_weight": 1.0},
        "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0},
        "loss_mask": {"type": "DiceLoss", "loss_weight": 2.0, "eps": 5e-6, "reduction": "mean"},
        "train_cfg": {"assigner": {"type": "DynamicSoftLabelAssigner", "topk": 13}, "allowed_border": -1,
                      "pos_weight": -1, "debug": False},
        "test_cfg": {"nms_pre": 100, "min_bbox_size": 0, "score_thr": 0.0,
                     "nms": {"type": "nms", "iou_threshold": 0.6}, "max_per_img": 10, "mask_thr_binary": 0.5},
    }  # fmt: skip
    if head_type == "RTMDetInsHead":
        cfg["norm_cfg"] = {"type": "GN", "num_groups": 4}
    return cfg


META = {"img_shape": (S, S), "pad_shape": (S, S), "ori_shape": (S // 2, S // 2), "scale_factor": (2.0, 2.0)}


def _feats() -> list[torch.Tensor]:
    return [torch.rand(1, 1, S // s, S // s) for s in STRIDES]


def _check_init(head_type):
    head = build_component("dense_head", _cfg(head_type))
    head.init_weights()
    assert head.num_gen_params == (4 + 2) * 4 + 4 + 4 * 4 + 4 + 4 + 1
    keys = head.state_dict().keys()
    assert any(k.startswith("mask_head.fusion_conv") for k in keys)
    assert any(k.startswith("rtm_kernel") for k in keys)
    assert any(k.startswith("kernel_convs") for k in keys)


def _check_predict(head_type, rescale):
    torch.manual_seed(0)
    head = build_component("dense_head", _cfg(head_type)).eval()
    with torch.no_grad():
        outs = head(_feats())
        results = head.predict_by_feat(*outs, [META], rescale=rescale)
        with_pad_param = head.predict_by_feat(*outs, [{**META, "pad_param": np.zeros(4)}], rescale=rescale)
    res = results[0]
    assert len(res) == 10
    size = (S // 2, S // 2) if rescale else (S, S)
    assert res.masks.shape == (10, *size) and res.masks.dtype == torch.bool
    other = with_pad_param[0]
    assert torch.equal(other.bboxes, res.bboxes) and torch.equal(other.masks, res.masks)


def _check_loss(head_type):
    torch.manual_seed(0)
    head = build_component("dense_head", _cfg(head_type))
    head.train()
    outs = head(_feats())
    empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                      masks=torch.zeros(0, S, S, dtype=torch.bool))  # fmt: skip
    losses = head.loss_by_feat(*outs, [empty], [META])
    assert sum(losses["loss_cls"]).item() > 0
    assert sum(losses["loss_bbox"]).item() == 0
    assert losses["loss_mask"].item() == 0

    masks = torch.zeros(1, S, S, dtype=torch.bool)
    masks[0, 30:90, 20:100] = True
    one = Instances(bboxes=torch.tensor([[20.0, 30.0, 100.0, 90.0]]), labels=torch.tensor([2]), masks=masks)
    losses = head.loss_by_feat(*head(_feats()), [one], [META])
    assert sum(losses["loss_cls"]).item() > 0
    assert sum(losses["loss_bbox"]).item() > 0
    assert losses["loss_mask"].item() > 0

    # a one-pixel gt in the corner holds no prior centre: no positive, zero box and mask losses
    corner = torch.zeros(1, S, S, dtype=torch.bool)
    corner[0, 0, 0] = True
    tiny = Instances(bboxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), labels=torch.tensor([2]), masks=corner)
    losses = head.loss_by_feat(*head(_feats()), [tiny], [META])
    assert sum(losses["loss_cls"]).item() > 0
    assert sum(losses["loss_bbox"]).item() == 0
    assert losses["loss_mask"].item() == 0


def test_rtmdet_ins_head_init():
    _check_init("RTMDetInsHead")


def test_rtmdet_ins_sepbn_head_init():
    _check_init("RTMDetInsSepBNHead")


@pytest.mark.parametrize("rescale", [True, False])
def test_rtmdet_ins_head_predict_by_feat(rescale):
    _check_predict("RTMDetInsHead", rescale)


@pytest.mark.parametrize("rescale", [True, False])
def test_rtmdet_ins_sepbn_head_predict_by_feat(rescale):
    _check_predict("RTMDetInsSepBNHead", rescale)


def test_rtmdet_ins_head_loss_by_feat():
    _check_loss("RTMDetInsHead")


def test_rtmdet_ins_sepbn_head_loss_by_feat():
    _check_loss("RTMDetInsSepBNHead")
