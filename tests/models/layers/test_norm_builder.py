import pytest
import torch
from torch import nn

from visdet.models.layers import build_norm_layer, norm_abbreviation


@pytest.mark.parametrize(
    ("cfg", "postfix", "name", "cls"),
    [
        ({"type": "BN"}, 1, "bn1", nn.BatchNorm2d),
        ({"type": "BN2d"}, "", "bn", nn.BatchNorm2d),
        ({"type": "BN1d"}, 3, "bn3", nn.BatchNorm1d),
        ({"type": "SyncBN"}, 2, "bn2", nn.SyncBatchNorm),
        ({"type": "GN", "num_groups": 4}, "", "gn", nn.GroupNorm),
        ({"type": "LN"}, "", "ln", nn.LayerNorm),
        ({"type": "IN"}, 1, "in1", nn.InstanceNorm2d),
    ],
)
def test_names_follow_mmcv(cfg, postfix, name, cls):
    got_name, layer = build_norm_layer(cfg, 8, postfix=postfix)
    assert got_name == name
    assert type(layer) is cls


def test_eps_default_options_and_requires_grad():
    _, layer = build_norm_layer({"type": "BN", "requires_grad": False, "momentum": 0.03}, 6)
    assert layer.eps == 1e-5 and layer.momentum == 0.03
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    _, layer = build_norm_layer({"type": "GN", "num_groups": 2, "eps": 1e-3}, 6)
    assert layer.num_groups == 2 and layer.num_channels == 6 and layer.eps == 1e-3
    assert layer.weight.requires_grad


def test_sync_bn_runs_as_batch_norm_without_a_process_group():
    _, sync = build_norm_layer({"type": "SyncBN"}, 3)
    _, plain = build_norm_layer({"type": "BN"}, 3)
    assert set(sync.state_dict()) == set(plain.state_dict())
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(sync.train()(x), plain.train()(x), rtol=0, atol=0)
    torch.testing.assert_close(sync.running_mean, plain.running_mean, rtol=0, atol=0)


def test_callable_norm_layer_gets_an_inferred_name():
    name, layer = build_norm_layer(lambda c: nn.GroupNorm(2, c), 8, postfix=2)
    assert name == "gn2" and layer.num_channels == 8


@pytest.mark.parametrize(
    ("cfg", "error", "match"),
    [
        ({"type": "GN"}, ValueError, "num_groups"),
        ({"type": "XN"}, ValueError, "'XN'"),
        ({"num_groups": 2}, ValueError, "'type'"),
        ("BN", TypeError, "mapping or a callable"),
    ],
)
def test_bad_configs(cfg, error, match):
    with pytest.raises(error, match=match):
        build_norm_layer(cfg, 8)


def test_abbreviation_rules():
    class MyBatchThing(nn.Module):
        pass

    class Custom(nn.Module):
        _abbr_ = "cn"

    class Other(nn.Module):
        pass

    assert norm_abbreviation(nn.InstanceNorm2d) == "in"  # checked before batch norm
    assert norm_abbreviation(nn.SyncBatchNorm) == "bn"
    assert norm_abbreviation(MyBatchThing) == "bn"
    assert norm_abbreviation(Custom) == "cn"
    assert norm_abbreviation(Other) == "norm_layer"
    with pytest.raises(TypeError):
        norm_abbreviation(nn.BatchNorm2d(2))
