"""Seeded initialisation of the dense heads equals mmdet's (live, when mmdet is importable).

mmdet builds a head and the runner then calls ``init_weights()``; visdet initialises at the
end of the constructor. With the same seed both consume the same random draws in the same
order, so the two ``state_dict`` s are equal value for value. This is what a user training
from scratch (or a head from a pretrained backbone) starts from.
"""

from __future__ import annotations

import pytest
import torch

from parity.reference import reference_missing
from visdet.build import build_component

ANCHORS = {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3,
           "ratios": [0.5, 1.0, 2.0], "strides": [8, 16, 32, 64, 128]}  # fmt: skip
HEADS = {
    "retina": {"type": "RetinaHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2, "feat_channels": 8,
               "anchor_generator": ANCHORS,
               "bbox_coder": {"type": "DeltaXYWHBBoxCoder", "target_means": [0.0] * 4, "target_stds": [1.0] * 4},
               "loss_cls": {"type": "FocalLoss", "use_sigmoid": True, "gamma": 2.0, "alpha": 0.25},
               "loss_bbox": {"type": "L1Loss"}},
    "fcos": {"type": "FCOSHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2, "feat_channels": 8,
             "strides": [8, 16, 32, 64, 128], "norm_cfg": {"type": "GN", "num_groups": 4, "requires_grad": True}},
    "rtmdet_sepbn": {"type": "RTMDetSepBNHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2,
                     "feat_channels": 8, "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0,
                                                              "strides": [8, 16, 32]},
                     "bbox_coder": {"type": "DistancePointBBoxCoder"},
                     "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True, "beta": 2.0},
                     "loss_bbox": {"type": "GIoULoss", "loss_weight": 2.0}, "with_objectness": True},
    "rtmdet_sepbn_depthwise": {"type": "RTMDetSepBNHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2,
                               "feat_channels": 8, "use_depthwise": True, "share_conv": False,
                               "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0, "strides": [8, 16]},
                               "bbox_coder": {"type": "DistancePointBBoxCoder"},
                               "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True}},
    "rtmdet_shared": {"type": "RTMDetHead", "num_classes": 5, "in_channels": 8, "stacked_convs": 2,
                      "feat_channels": 8, "anchor_generator": {"type": "MlvlPointGenerator", "offset": 0,
                                                               "strides": [8, 16, 32]},
                      "bbox_coder": {"type": "DistancePointBBoxCoder"},
                      "norm_cfg": {"type": "GN", "num_groups": 4, "requires_grad": True},
                      "loss_cls": {"type": "QualityFocalLoss", "use_sigmoid": True}, "loss_bbox": {"type": "GIoULoss"}},
}  # fmt: skip


@pytest.mark.live
@pytest.mark.parametrize("name", sorted(HEADS))
def test_seeded_head_init_matches_mmdet(name) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(3)
    ref = MODELS.build(dict(HEADS[name]))
    ref.init_weights()
    torch.manual_seed(3)
    head = build_component("dense_head", dict(HEADS[name]))
    ref_state, state = ref.state_dict(), head.state_dict()
    assert list(state) == list(ref_state)
    for key, value in ref_state.items():
        assert torch.equal(state[key], value), key
