import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from visdet.models.necks import FPN

IN_CHANNELS = [4, 8, 16, 32]


def _feats(sizes, batch=2, channels=IN_CHANNELS, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h, w, generator=gen) for c, (h, w) in zip(channels, sizes)]


def _sizes(height, width, levels=4):
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


def test_faster_rcnn_keys_and_shapes():
    model = FPN(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)
    state = model.state_dict()
    assert sorted(state) == sorted(
        [f"lateral_convs.{i}.conv.{p}" for i in range(4) for p in ("weight", "bias")]
        + [f"fpn_convs.{i}.conv.{p}" for i in range(4) for p in ("weight", "bias")]
    )
    assert state["lateral_convs.3.conv.weight"].shape == (256, 2048, 1, 1)
    assert state["fpn_convs.0.conv.weight"].shape == (256, 256, 3, 3)


@pytest.mark.parametrize(("source", "first_in"), [("on_input", 32), ("on_lateral", 8), ("on_output", 8), (True, 32)])
def test_extra_convs_channels_and_names(source, first_in):
    model = FPN(in_channels=IN_CHANNELS, out_channels=8, num_outs=6, add_extra_convs=source)
    assert model.add_extra_convs == ("on_input" if source is True else source)
    assert len(model.fpn_convs) == 6
    assert model.fpn_convs[4].conv.in_channels == first_in
    assert model.fpn_convs[5].conv.in_channels == 8
    assert model.fpn_convs[4].conv.stride == (2, 2)
    assert "fpn_convs.5.conv.weight" in model.state_dict()


@settings(max_examples=20, deadline=None)
@given(
    height=st.integers(8, 40),
    width=st.integers(8, 40),
    num_outs=st.integers(4, 6),
    start_level=st.integers(0, 1),
    source=st.sampled_from([False, "on_input", "on_lateral", "on_output"]),
)
def test_output_shapes_property(height, width, num_outs, start_level, source):
    sizes = _sizes(height, width)
    model = FPN(
        in_channels=IN_CHANNELS, out_channels=6, num_outs=num_outs, start_level=start_level, add_extra_convs=source
    )
    with torch.no_grad():
        outs = model(_feats(sizes))
    expected = list(sizes[start_level:])
    while len(expected) < num_outs:
        h, w = expected[-1]
        expected.append((math.ceil(h / 2), math.ceil(w / 2)))
    assert [tuple(o.shape) for o in outs] == [(2, 6, h, w) for h, w in expected]


def test_top_down_pathway_matches_a_manual_composition():
    sizes = _sizes(15, 21)
    feats = _feats(sizes)
    model = FPN(in_channels=IN_CHANNELS, out_channels=8, num_outs=5).eval()
    with torch.no_grad():
        outs = model(feats)
        laterals = [conv.conv(x) for conv, x in zip(model.lateral_convs, feats)]
        for i in (3, 2, 1):
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1] + up
        expected = [conv.conv(x) for conv, x in zip(model.fpn_convs, laterals)]
    for got, want in zip(outs[:4], expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # the max-pooled extra level (kernel 1, stride 2) subsamples the coarsest output
    torch.testing.assert_close(outs[4], outs[3][:, :, ::2, ::2], rtol=0, atol=0)


def test_relu_before_extra_convs():
    feats = _feats(_sizes(16, 16))
    model = FPN(
        in_channels=IN_CHANNELS, out_channels=8, num_outs=6, add_extra_convs="on_output", relu_before_extra_convs=True
    ).eval()
    with torch.no_grad():
        outs = model(feats)
        torch.testing.assert_close(outs[4], model.fpn_convs[4](outs[3]), rtol=0, atol=0)
        torch.testing.assert_close(outs[5], model.fpn_convs[5](F.relu(outs[4])), rtol=0, atol=0)


def test_scale_factor_equals_size_mode_on_exact_halves():
    feats = _feats(_sizes(32, 24))
    size_mode = FPN(in_channels=IN_CHANNELS, out_channels=8, num_outs=4)
    factor_mode = FPN(
        in_channels=IN_CHANNELS, out_channels=8, num_outs=4, upsample_cfg={"scale_factor": 2, "mode": "nearest"}
    )
    factor_mode.load_state_dict(size_mode.state_dict())
    with torch.no_grad():
        for a, b in zip(size_mode(feats), factor_mode(feats)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_end_level_uses_only_the_chosen_levels():
    model = FPN(in_channels=IN_CHANNELS, out_channels=8, num_outs=2, start_level=1, end_level=2)
    assert len(model.lateral_convs) == 2 and model.backbone_end_level == 3
    assert model.lateral_convs[0].conv.in_channels == 8
    outs = model(_feats(_sizes(16, 16)))
    assert [tuple(o.shape[2:]) for o in outs] == [(8, 8), (4, 4)]


def test_norm_and_activation_configuration():
    model = FPN(
        in_channels=IN_CHANNELS,
        out_channels=8,
        num_outs=5,
        add_extra_convs="on_input",
        norm_cfg={"type": "BN", "requires_grad": True},
        act_cfg={"type": "ReLU"},
        no_norm_on_lateral=True,
    )
    keys = set(model.state_dict())
    assert "lateral_convs.0.conv.bias" in keys and "lateral_convs.0.bn.weight" not in keys
    assert "fpn_convs.0.conv.bias" not in keys and "fpn_convs.0.bn.running_mean" in keys
    assert "fpn_convs.4.bn.weight" in keys
    assert isinstance(model.fpn_convs[0].activate, nn.ReLU)
    assert model.fpn_convs[0].activate.inplace is False  # FPN builds non-inplace activations
    outs = model.eval()(_feats(_sizes(16, 16)))
    assert all(bool((o >= 0).all()) for o in outs)  # every conv ends with ReLU


def test_init_weights_xavier_uniform_zero_bias():
    torch.manual_seed(0)
    model = FPN(in_channels=[64, 128], out_channels=64, num_outs=2)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert module.weight.abs().max() <= bound
            assert module.weight.abs().max() > 0.9 * bound
            assert torch.all(module.bias == 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_outs": 3}, ValueError, "num_outs=3"),
        ({"num_outs": 3, "start_level": 1, "end_level": 2}, ValueError, "end_level"),
        ({"num_outs": 2, "start_level": 1, "end_level": 4}, ValueError, "end_level"),
        ({"num_outs": 5, "add_extra_convs": "on_xxx"}, ValueError, "on_xxx"),
        ({"num_outs": 5, "add_extra_convs": 1}, TypeError, "add_extra_convs"),
        ({"num_outs": 5, "start_level": 4}, ValueError, "start_level"),
        ({"num_outs": 5, "init_cfg": {"type": "Normal"}}, NotImplementedError, "init_cfg"),
    ],
)
def test_invalid_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        FPN(in_channels=IN_CHANNELS, out_channels=8, **kwargs)


def test_bad_inputs_name_the_shapes():
    model = FPN(in_channels=IN_CHANNELS, out_channels=8, num_outs=4)
    feats = _feats(_sizes(16, 16))
    with pytest.raises(ValueError, match="4 input levels, got 3"):
        model(feats[:3])
    feats[2] = torch.randn(2, 5, 4, 4)
    with pytest.raises(ValueError, match=r"level 2 .*\(N, 16, H, W\).*\(2, 5, 4, 4\)"):
        model(feats)
    with pytest.raises(TypeError):
        FPN(in_channels=4, out_channels=8, num_outs=1)
