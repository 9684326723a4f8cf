import math

import pytest
import torch
from torch import nn

from visdet.models.layers import ConvModule, build_activation_layer, build_conv_layer


def test_default_is_conv_with_bias_and_inplace_relu():
    module = ConvModule(in_channels=3, out_channels=8, kernel_size=3, padding=1)
    assert sorted(module.state_dict()) == ["conv.bias", "conv.weight"]
    assert module.norm is None and module.with_bias
    assert isinstance(module.activate, nn.ReLU) and module.activate.inplace
    x = torch.randn(2, 3, 7, 9)
    torch.testing.assert_close(module(x), torch.relu(module.conv(x)), rtol=0, atol=0)
    torch.testing.assert_close(module(x, activate=False), module.conv(x), rtol=0, atol=0)


def test_norm_drops_bias_and_uses_mmcv_names():
    module = ConvModule(
        in_channels=3, out_channels=8, kernel_size=1, norm_cfg={"type": "GN", "num_groups": 2}, act_cfg=None
    )
    assert sorted(module.state_dict()) == ["conv.weight", "gn.bias", "gn.weight"]
    assert module.norm_name == "gn" and not module.with_bias
    module = ConvModule(in_channels=3, out_channels=8, kernel_size=1, norm_cfg={"type": "BN"}, bias=True)
    assert "conv.bias" in module.state_dict() and "bn.running_var" in module.state_dict()


def test_order_puts_the_norm_on_the_input_channels():
    module = ConvModule(
        in_channels=4, out_channels=6, kernel_size=3, padding=1, norm_cfg={"type": "BN"}, order=("norm", "conv", "act")
    ).eval()
    assert module.norm.num_features == 4
    x = torch.randn(1, 4, 5, 5)
    with torch.no_grad():
        want = torch.relu(module.conv(module.norm(x)))
        torch.testing.assert_close(module(x), want, rtol=0, atol=0)
        torch.testing.assert_close(module(x, norm=False), torch.relu(module.conv(x)), rtol=0, atol=0)


def test_construction_init_is_kaiming_fan_out_with_zero_bias():
    torch.manual_seed(0)
    module = ConvModule(in_channels=64, out_channels=128, kernel_size=3)
    target = math.sqrt(2.0 / (128 * 9))
    assert abs(module.conv.weight.std().item() - target) < 0.02 * target
    assert torch.all(module.conv.bias == 0)
    leaky = ConvModule(
        in_channels=64, out_channels=128, kernel_size=3, act_cfg={"type": "LeakyReLU", "negative_slope": 0.5}
    )
    target = math.sqrt(2.0 / (1 + 0.25) / (128 * 9))
    assert abs(leaky.conv.weight.std().item() - target) < 0.02 * target
    assert leaky.activate.negative_slope == 0.5


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"order": ("conv", "act")}, ValueError),
        ({"order": ("conv", "norm", "norm")}, ValueError),
        ({"padding_mode": "reflect"}, NotImplementedError),
        ({"bias": "yes"}, TypeError),
        ({"conv_cfg": {"type": "DCN"}}, NotImplementedError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        ConvModule(in_channels=3, out_channels=4, kernel_size=3, **kwargs)


def test_circular_padding_mode_pads_with_zeros_as_mmcv():
    # mmcv 2.1's ConvModule takes padding_mode="circular" but builds its conv without it
    module = ConvModule(in_channels=1, out_channels=1, kernel_size=3, padding=1, padding_mode="circular", act_cfg=None)
    assert module.conv.padding_mode == "zeros" and module.padding_mode == "circular"
    with torch.no_grad():
        module.conv.weight.fill_(1.0)
        module.conv.bias.zero_()
    out = module(torch.ones(1, 1, 3, 3))
    assert out[0, 0, 0, 0].item() == 4.0  # a corner sees 4 ones and 5 zero pads (circular padding would give 9)


def test_build_conv_layer_accepts_mmcv_names():
    for cfg in (None, {"type": "Conv"}, {"type": "Conv2d"}):
        conv = build_conv_layer(cfg, in_channels=2, out_channels=3, kernel_size=1, bias=False)
        assert isinstance(conv, nn.Conv2d) and conv.bias is None


@pytest.mark.parametrize(
    ("cfg", "cls", "has_inplace"),
    [
        ({"type": "ReLU"}, nn.ReLU, True),
        ({"type": "LeakyReLU", "negative_slope": 0.1}, nn.LeakyReLU, True),
        ({"type": "ReLU6"}, nn.ReLU6, True),
        ({"type": "SiLU"}, nn.SiLU, True),
        ({"type": "Sigmoid"}, nn.Sigmoid, False),
        ({"type": "GELU"}, nn.GELU, False),
    ],
)
def test_build_activation_layer(cfg, cls, has_inplace):
    layer = build_activation_layer(cfg, inplace=True)
    assert type(layer) is cls
    assert getattr(layer, "inplace", None) is (True if has_inplace else None)
    with pytest.raises(ValueError, match="'Swishy'"):
        build_activation_layer({"type": "Swishy"})
    assert isinstance(build_activation_layer(nn.Tanh), nn.Tanh)
