"""LoRA layers: exact at initialisation, the update is the low-rank product, merged == unmerged."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visdet.models.layers.lora import LoRAConv2d, LoRALinear, lora_layer

CONVS = [
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "dilation": 2, "padding": 2},
    {"kernel_size": 3, "groups": 4, "padding": 1},
    {"kernel_size": 1, "bias": False},
]


def _randomise(layer):
    with torch.no_grad():
        layer.lora_B.normal_(0, 0.1)


@pytest.mark.parametrize("options", CONVS)
def test_conv_lora_is_exact_at_init_and_adds_the_low_rank_update(options):
    torch.manual_seed(0)
    base = nn.Conv2d(8, 12, **options)
    x = torch.randn(2, 8, 11, 13)
    expected = base(x)
    layer = lora_layer(base, rank=3, alpha=6.0)
    assert isinstance(layer, LoRAConv2d) and layer.weight is base.weight
    assert torch.equal(layer(x), expected)  # B = 0: bit for bit the base layer
    _randomise(layer)
    # by linearity: conv(x, W + s * B A) = conv(x, W) + conv(x, s * B A), the product built by einsum here
    update = torch.einsum("or,rk->ok", layer.lora_B, layer.lora_A).reshape(base.weight.shape) * 2.0
    by_hand = expected + F.conv2d(x, update, None, base.stride, base.padding, base.dilation, base.groups)
    # float32 conv/matmul against a by-hand sum: rounding order only
    torch.testing.assert_close(layer(x), by_hand, atol=1e-5, rtol=1e-5)
    merged = layer.merged()
    assert type(merged) is nn.Conv2d
    # issue 16's bound: merging adds B @ A into the weight, so the sums round in another order
    torch.testing.assert_close(merged(x), layer(x), atol=1e-5, rtol=1e-5)


def test_linear_lora_exact_at_init_merge_and_keys():
    torch.manual_seed(0)
    base = nn.Linear(10, 6)
    x = torch.randn(5, 10)
    expected = base(x)
    layer = lora_layer(base, rank=2, alpha=2.0)
    assert isinstance(layer, LoRALinear) and torch.equal(layer(x), expected)
    assert list(layer.state_dict()) == ["weight", "bias", "lora_A", "lora_B"]
    assert layer.lora_A.shape == (2, 10) and layer.lora_B.shape == (6, 2)
    _randomise(layer)
    by_hand = expected + x @ (layer.lora_B @ layer.lora_A).T  # alpha / rank = 1
    # float32 conv/matmul against a by-hand sum: rounding order only
    torch.testing.assert_close(layer(x), by_hand, atol=1e-5, rtol=1e-5)
    merged = layer.merged()
    assert list(merged.state_dict()) == ["weight", "bias"]
    # issue 16's bound: merging adds B @ A into the weight, so the sums round in another order
    torch.testing.assert_close(merged(x), layer(x), atol=1e-5, rtol=1e-5)


def test_dropout_applies_to_the_adapter_branch_only_in_training():
    torch.manual_seed(0)
    base = nn.Linear(10, 6)
    layer = lora_layer(base, rank=2, alpha=2.0, dropout=0.5)
    _randomise(layer)
    x = torch.randn(5, 10)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    torch.manual_seed(1)
    mask = torch.nn.functional.dropout(torch.ones_like(x), 0.5, True)
    torch.manual_seed(1)
    out = layer(x)
    # float32 matmuls against a by-hand sum: rounding order only
    torch.testing.assert_close(out, base(x) + (x * mask) @ (layer.lora_B @ layer.lora_A).T, atol=1e-5, rtol=1e-5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="rank must be >= 1"):
        lora_layer(nn.Linear(2, 2), rank=0, alpha=1.0)
    with pytest.raises(ValueError, match="dropout"):
        lora_layer(nn.Linear(2, 2), rank=1, alpha=1.0, dropout=1.0)
    with pytest.raises(TypeError, match="not BatchNorm2d"):
        lora_layer(nn.BatchNorm2d(2), rank=1, alpha=1.0)
    with pytest.raises(TypeError, match="already has a LoRA adapter"):
        lora_layer(lora_layer(nn.Linear(2, 2), rank=1, alpha=1.0), rank=1, alpha=1.0)
