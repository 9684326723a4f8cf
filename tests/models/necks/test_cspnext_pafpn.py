"""CSPNeXtPAFPN: layout, names and shapes derived by hand from mmdet's construction."""

import pytest
import torch
from torch import nn

from visdet.models.layers import ConvModule, CSPLayer, DepthwiseSeparableConvModule, Swish
from visdet.models.necks import CSPNeXtPAFPN

TINY = {"in_channels": [96, 192, 384], "out_channels": 96, "num_csp_blocks": 1}


def _feats(channels, size=16, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size >> i, size >> i, generator=gen) for i, c in enumerate(channels)]


def test_layout_of_the_rtmdet_tiny_neck():
    neck = CSPNeXtPAFPN(**TINY)
    # top-down from the coarsest level: reduce 384 -> 192, fuse 2*192 -> 192; reduce 192 -> 96, fuse 2*96 -> 96
    assert [(m.in_channels, m.out_channels) for m in neck.reduce_layers] == [(384, 192), (192, 96)]
    assert [(b.main_conv.in_channels, b.final_conv.out_channels) for b in neck.top_down_blocks] == [
        (384, 192),
        (192, 96),
    ]
    # bottom-up from the finest: downsample (stride 2, same width), fuse 2*c_l -> c_{l+1}
    assert [(m.in_channels, m.out_channels, m.stride) for m in neck.downsamples] == [
        (96, 96, (2, 2)),
        (192, 192, (2, 2)),
    ]
    assert [(b.main_conv.in_channels, b.final_conv.out_channels) for b in neck.bottom_up_blocks] == [
        (192, 192),
        (384, 384),
    ]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in neck.out_convs] == [
        (96, 96, (3, 3)),
        (192, 96, (3, 3)),
        (384, 96, (3, 3)),
    ]
    for block in (*neck.top_down_blocks, *neck.bottom_up_blocks):
        assert isinstance(block, CSPLayer) and not block.channel_attention and len(block.blocks) == 1
        assert not block.blocks[0].add_identity
    keys = set(neck.state_dict())
    for key in (
        "reduce_layers.0.conv.weight",
        "top_down_blocks.1.blocks.0.conv2.pointwise_conv.bn.running_mean",
        "downsamples.1.bn.weight",
        "bottom_up_blocks.0.final_conv.conv.weight",
        "out_convs.2.bn.bias",
    ):
        assert key in keys, key
    assert not any("upsample" in k for k in keys)


def test_defaults_are_mmdets_bn_and_swish():
    neck = CSPNeXtPAFPN(in_channels=[4, 8], out_channels=4)
    assert len(neck.top_down_blocks[0].blocks) == 3
    bn = neck.out_convs[0].bn
    assert type(bn) is nn.BatchNorm2d and bn.momentum == 0.03 and bn.eps == 0.001
    assert type(neck.out_convs[0].activate) is Swish
    assert neck.upsample.scale_factor == 2 and neck.upsample.mode == "nearest"


def test_outputs_keep_each_level_size():
    neck = CSPNeXtPAFPN(**TINY, act_cfg={"type": "SiLU", "inplace": True}).eval()
    outs = neck(_feats([96, 192, 384]))
    assert [tuple(o.shape) for o in outs] == [(2, 96, 16, 16), (2, 96, 8, 8), (2, 96, 4, 4)]


def test_four_levels_and_depthwise_downsamples():
    neck = CSPNeXtPAFPN(in_channels=[4, 8, 16, 32], out_channels=4, num_csp_blocks=1, use_depthwise=True)
    assert len(neck.reduce_layers) == len(neck.downsamples) == 3
    assert all(isinstance(m, DepthwiseSeparableConvModule) for m in neck.downsamples)
    assert all(isinstance(m, ConvModule) for m in neck.reduce_layers)
    assert all(isinstance(m, DepthwiseSeparableConvModule) for m in neck.out_convs)
    assert isinstance(neck.top_down_blocks[0].blocks[0].conv1, DepthwiseSeparableConvModule)
    outs = neck.eval()(_feats([4, 8, 16, 32], size=32))
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4]


def test_backward_reaches_every_parameter():
    neck = CSPNeXtPAFPN(in_channels=[4, 8, 16], out_channels=4, num_csp_blocks=1).train()
    feats = [f.requires_grad_() for f in _feats([4, 8, 16])]
    sum(o.sum() for o in neck(feats)).backward()
    assert all(p.grad is not None for p in neck.parameters())
    assert all(f.grad is not None for f in feats)


def test_bad_inputs_are_clear_errors():
    neck = CSPNeXtPAFPN(in_channels=[4, 8, 16], out_channels=4, num_csp_blocks=1).eval()
    with pytest.raises(ValueError, match="expects 3 input levels"):
        neck(_feats([4, 8]))
    with pytest.raises(ValueError, match=r"level 1 must have shape \(N, 8, H, W\)"):
        neck(_feats([4, 9, 16]))
    odd = [torch.randn(1, 4, 15, 15), torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    with pytest.raises(ValueError, match="half the previous"):
        neck(odd)
    with pytest.raises(ValueError, match="at least 2"):
        CSPNeXtPAFPN(in_channels=[4], out_channels=4)
