"""The CSP building blocks (mmcv/mmdet layers) with hand-derived expectations."""

import pytest
import torch
from torch import nn

from visdet.models.layers import (
    ChannelAttention,
    CSPLayer,
    CSPNeXtBlock,
    DarknetBottleneck,
    DepthwiseSeparableConvModule,
    SPPBottleneck,
    Swish,
    build_activation_layer,
)


def test_swish_is_x_times_sigmoid_and_silu_in_value():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert torch.equal(Swish()(x), x * torch.sigmoid(x))
    torch.testing.assert_close(Swish()(x), nn.functional.silu(x))
    assert type(build_activation_layer({"type": "Swish"}, inplace=True)) is Swish  # no inplace argument
    assert type(build_activation_layer({"type": "HSwish"}, inplace=True)) is nn.Hardswish


def test_depthwise_separable_conv_module_layout():
    module = DepthwiseSeparableConvModule(
        in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, norm_cfg={"type": "BN"}
    )
    dw, pw = module.depthwise_conv, module.pointwise_conv
    assert dw.conv.groups == 4 and dw.conv.out_channels == 4 and dw.conv.stride == (2, 2)
    assert pw.conv.kernel_size == (1, 1) and pw.conv.out_channels == 6
    assert dw.bn.num_features == 4 and pw.bn.num_features == 6
    assert type(dw.activate) is nn.ReLU and type(pw.activate) is nn.ReLU  # mmcv's default act
    assert module(torch.randn(2, 4, 9, 9)).shape == (2, 6, 5, 5)
    custom = DepthwiseSeparableConvModule(
        in_channels=4, out_channels=6, kernel_size=3, norm_cfg={"type": "BN"}, dw_act_cfg=None, pw_norm_cfg=None
    )
    assert not custom.depthwise_conv.with_activation and custom.pointwise_conv.norm is None
    assert custom.pointwise_conv.conv.bias is not None  # bias "auto": no norm -> bias
    with pytest.raises(ValueError, match="dw_norm_cfg"):
        DepthwiseSeparableConvModule(in_channels=4, out_channels=6, kernel_size=3, dw_norm_cfg="BN")


def test_channel_attention_with_zero_fc_halves_the_input():
    module = ChannelAttention(channels=3)
    nn.init.zeros_(module.fc.weight)
    nn.init.zeros_(module.fc.bias)
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(module(x), x * 0.5)  # hardsigmoid(0) = 0.5
    nn.init.constant_(module.fc.bias, 3.0)  # hardsigmoid(3) = 1
    torch.testing.assert_close(module(x), x)
    # the scale reads the channel means: fc = identity, bias 0 -> x * hardsigmoid(mean)
    with torch.no_grad():
        module.fc.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        module.fc.bias.zero_()
    means = x.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(module(x), x * (means / 6 + 0.5).clamp(0, 1))


def test_spp_bottleneck_widths_and_pooling():
    module = SPPBottleneck(in_channels=8, out_channels=6, kernel_sizes=(3, 5), norm_cfg=None, act_cfg=None)
    assert module.conv1.conv.out_channels == 4 and module.conv2.conv.in_channels == 12
    with torch.no_grad():  # conv1 passes channel 0 of the input through; conv2 reads the 3x3 pool of it
        module.conv1.conv.weight.zero_()
        module.conv1.conv.bias.zero_()
        module.conv1.conv.weight[0, 0] = 1.0
        module.conv2.conv.weight.zero_()
        module.conv2.conv.bias.zero_()
        module.conv2.conv.weight[0, 4] = 1.0
    x = torch.randn(1, 8, 7, 7)
    expected = nn.functional.max_pool2d(x[:, :1], 3, stride=1, padding=1)
    torch.testing.assert_close(module(x)[:, :1], expected)
    with pytest.raises(ValueError, match="odd"):
        SPPBottleneck(in_channels=8, out_channels=8, kernel_sizes=(4,))


def test_blocks_identity_only_with_equal_widths():
    block = CSPNeXtBlock(in_channels=4, out_channels=4, expansion=1.0, norm_cfg=None, act_cfg=None)
    assert block.add_identity and block.conv1.conv.kernel_size == (3, 3)
    assert block.conv2.depthwise_conv.conv.kernel_size == (5, 5)
    for module in (block.conv1.conv, block.conv2.depthwise_conv.conv, block.conv2.pointwise_conv.conv):
        nn.init.zeros_(module.weight)
        nn.init.zeros_(module.bias)
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(block(x), x)  # zero branch + identity
    assert not CSPNeXtBlock(in_channels=4, out_channels=8).add_identity
    darknet = DarknetBottleneck(in_channels=4, out_channels=4)
    assert darknet.conv1.conv.kernel_size == (1, 1) and darknet.conv1.conv.out_channels == 2
    assert type(darknet.conv1.activate) is Swish


def test_csp_layer_widths_and_order():
    layer = CSPLayer(in_channels=6, out_channels=8, expand_ratio=0.5, num_blocks=2, use_cspnext_block=True,
                     channel_attention=True)  # fmt: skip
    assert layer.main_conv.conv.out_channels == 4 and layer.short_conv.conv.out_channels == 4
    assert layer.final_conv.conv.in_channels == 8 and layer.attention.fc.in_channels == 8
    assert len(layer.blocks) == 2 and all(isinstance(b, CSPNeXtBlock) for b in layer.blocks)
    assert layer.eval()(torch.randn(1, 6, 5, 5)).shape == (1, 8, 5, 5)
    plain = CSPLayer(in_channels=2, out_channels=4, num_blocks=0, norm_cfg=None, act_cfg=None)
    assert len(plain.blocks) == 0
    # no blocks: final_conv(cat(main_conv(x), short_conv(x))), main part first
    with torch.no_grad():
        for conv in (plain.main_conv.conv, plain.short_conv.conv, plain.final_conv.conv):
            conv.bias.zero_()
        plain.main_conv.conv.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(2, 2, 1, 1))
        plain.short_conv.conv.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 1.0]]).view(2, 2, 1, 1))
        plain.final_conv.conv.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
    x = torch.randn(1, 2, 3, 3)
    out = plain(x)
    torch.testing.assert_close(out[:, 0], x[:, 0])  # main branch, channel 0
    torch.testing.assert_close(out[:, 3], x[:, 1])  # shortcut branch after the main one
    with pytest.raises(ValueError, match="hidden width"):
        CSPLayer(in_channels=2, out_channels=1, expand_ratio=0.5)
