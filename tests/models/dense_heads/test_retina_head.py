"""RetinaHead behaviour that the parity goldens do not see (they load weights)."""

import math

from visdet.build import build_component


def test_retina_head_init_is_mmdet_s_normal_everywhere():
    """mmdet's RetinaHead init_cfg reaches the ConvModule convs too (seen in mmdet 3.3: std 0.0100
    after init_weights), so the subnets start at Normal(0, 0.01) with zero bias, not He init."""
    head = build_component("dense_head", {
        "type": "RetinaHead", "num_classes": 80, "in_channels": 256, "stacked_convs": 4, "feat_channels": 256,
        "anchor_generator": {"type": "AnchorGenerator", "octave_base_scale": 4, "scales_per_octave": 3,
                             "ratios": [0.5, 1.0, 2.0], "strides": [8, 16, 32, 64, 128]}})  # fmt: skip
    for convs in (head.cls_convs, head.reg_convs):
        for module in convs:
            assert abs(float(module.conv.weight.std()) - 0.01) < 5e-4
            assert not module.conv.bias.any()
    assert abs(float(head.retina_cls.bias[0]) - math.log(0.01 / 0.99)) < 1e-6
