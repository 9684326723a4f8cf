# Ported from mmdet tests/test_models/test_roi_heads/test_mask_heads/test_fcn_mask_head.py
# (mmdet 3.3.0), rewritten for visdet: the test config's ``mask_thr_binary`` is passed
# to ``predict_by_feat`` directly; the CUDA variant runs where a GPU is present.
import pytest
import torch

from visdet.build import build_component
from visdet.structures import Instances

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("device", DEVICES)
def test_get_seg_masks(device):
    num_classes, s = 6, 128
    head = build_component("mask_head", {"type": "FCNMaskHead", "num_convs": 1, "in_channels": 1,
                                         "conv_out_channels": 1, "num_classes": num_classes}).to(device)
    meta = {"img_shape": (s, s, 3), "scale_factor": (1, 1), "ori_shape": (s, s, 3)}

    for activate_map in (False, True):
        preds = torch.rand((2, num_classes, 14, 14), device=device)
        if activate_map:
            preds = preds.sigmoid()
        result = Instances(bboxes=torch.rand((2, 4), device=device),
                           labels=torch.randint(num_classes, (2,), device=device))
        (out,) = head.predict_by_feat((preds,), [result], [meta], mask_thr_binary=0.5, activate_map=activate_map)
        assert isinstance(out, Instances) and len(out) == 2
        assert out.masks.shape == (2, s, s)

    empty = Instances(bboxes=torch.zeros((0, 4), device=device), labels=torch.zeros((0,), device=device))
    (out,) = head.predict_by_feat((torch.rand((0, num_classes, 14, 14), device=device),), [empty], [meta],
                                  mask_thr_binary=0.5)
    assert isinstance(out, Instances) and len(out) == 0
    assert out.masks.shape == (0, s, s)
