import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from visdet.models.backbones import BasicBlock, Bottleneck, ResNet, ResNetV1d

EXPANSION = {18: 1, 34: 1, 50: 4, 101: 4, 152: 4}
BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _halve(size: int) -> int:
    # a stride-2 conv/pool with "same" padding gives ceil(size / 2)
    return math.ceil(size / 2)


def _expected_shapes(depth, base, height, width, batch=1, strides=(1, 2, 2, 2)):
    h, w = _halve(_halve(height)), _halve(_halve(width))
    shapes = []
    for i, stride in enumerate(strides):
        if stride == 2:
            h, w = _halve(h), _halve(w)
        shapes.append((batch, base * 2**i * EXPANSION[depth], h, w))
    return shapes


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_output_shapes_and_block_counts_per_depth(depth):
    model = ResNet(depth=depth, base_channels=2, stem_channels=4).eval()
    for i, count in enumerate(BLOCKS[depth]):
        assert len(getattr(model, f"layer{i + 1}")) == count
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 40, 56))
    assert [tuple(o.shape) for o in outs] == _expected_shapes(depth, 2, 40, 56)
    assert model.out_channels == tuple(s[1] for s in _expected_shapes(depth, 2, 40, 56))


@settings(max_examples=20, deadline=None)
@given(
    height=st.integers(1, 70),
    width=st.integers(1, 70),
    style=st.sampled_from(["pytorch", "caffe"]),
    out_indices=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
)
def test_output_strides_property(height, width, style, out_indices):
    model = ResNet(depth=18, base_channels=1, stem_channels=2, style=style, out_indices=tuple(out_indices)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, height, width))
    expected = _expected_shapes(18, 1, height, width, batch=2)
    assert [tuple(o.shape) for o in outs] == [expected[i] for i in sorted(out_indices)]


def test_dilated_stage_keeps_resolution():
    model = ResNet(depth=18, base_channels=2, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)).eval()
    assert model.layer3[0].conv1.dilation == (2, 2)
    assert model.layer3[0].conv1.padding == (2, 2)
    assert model.layer4[1].conv1.dilation == (4, 4)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[2:]) for o in outs] == [(16, 16), (8, 8), (8, 8), (8, 8)]


def test_bad_depth_lists_allowed_depths():
    with pytest.raises(ValueError, match=r"\[18, 34, 50, 101, 152\].*got 20"):
        ResNet(depth=20)


def test_wrong_input_channels_names_the_shape():
    model = ResNet(depth=18, base_channels=2)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(1, 4, 32, 32\)"):
        model(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        model(torch.randn(3, 32, 32))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"num_stages": 0}, ValueError),
        ({"num_stages": 3}, ValueError),  # strides/dilations still have 4 entries
        ({"out_indices": (4,)}, ValueError),
        ({"style": "tensorflow"}, ValueError),
        ({"dcn": {"type": "DCN"}}, NotImplementedError),
        ({"plugins": [{"cfg": {"type": "ContextBlock"}}]}, NotImplementedError),
        ({"conv_cfg": {"type": "DCNv2"}}, NotImplementedError),
        ({"norm_cfg": {"type": "NoSuchNorm"}}, ValueError),
    ],
)
def test_invalid_arguments(kwargs, error):
    with pytest.raises(error):
        ResNet(depth=18, base_channels=2, **kwargs)


@pytest.mark.parametrize("frozen_stages", [-1, 0, 1, 3])
@pytest.mark.parametrize("deep_stem", [False, True])
def test_frozen_stages_have_no_grad_and_stay_in_eval(frozen_stages, deep_stem):
    model = ResNet(
        depth=18, base_channels=2, stem_channels=4, frozen_stages=frozen_stages, deep_stem=deep_stem, norm_eval=False
    )
    model.train()
    stem = [model.stem] if deep_stem else [model.conv1, model.norm1]
    stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
    frozen = (stem if frozen_stages >= 0 else []) + stages[: max(frozen_stages, 0)]
    trainable = (stem if frozen_stages < 0 else []) + stages[max(frozen_stages, 0) :]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        # mmdet puts the frozen norms in eval, and whole stages; a plain stem's conv1 is
        # left alone (its mode has no effect)
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm) or module in stages)
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules() if isinstance(m, _BatchNorm))
    model.eval()
    model.train()  # train() again must re-freeze
    for module in frozen:
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm))


def test_frozen_stage_running_stats_do_not_move_but_others_do():
    model = ResNet(depth=18, base_channels=2, frozen_stages=1, norm_eval=False)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(2, 3, 32, 32))
    after = model.state_dict()
    assert torch.equal(before["bn1.running_mean"], after["bn1.running_mean"])
    assert torch.equal(before["layer1.0.bn1.running_var"], after["layer1.0.bn1.running_var"])
    assert not torch.equal(before["layer2.0.bn1.running_mean"], after["layer2.0.bn1.running_mean"])


def test_norm_eval_keeps_bn_in_eval_and_stats_fixed():
    model = ResNet(depth=18, base_channels=2, norm_eval=True)
    model.train()
    assert model.training
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(2, 3, 32, 32))
    for key, value in model.state_dict().items():
        assert torch.equal(before[key], value), key
    assert all(p.requires_grad for p in model.parameters())  # norm_eval does not freeze


def test_norm_cfg_requires_grad_false():
    model = ResNet(depth=18, base_channels=2, norm_cfg={"type": "BN", "requires_grad": False})
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            assert not module.weight.requires_grad and not module.bias.requires_grad
        elif isinstance(module, nn.Conv2d):
            assert module.weight.requires_grad


def test_group_norm_names_and_keys():
    model = ResNet(depth=50, base_channels=4, norm_cfg={"type": "GN", "num_groups": 2})
    keys = set(model.state_dict())
    assert {"gn1.weight", "layer1.0.gn3.bias", "layer1.0.downsample.1.weight"} <= keys
    assert not any(".bn" in k or k.startswith("bn") for k in keys)
    assert isinstance(model.layer4[2].norm3, nn.GroupNorm)


def test_resnet50_state_dict_key_facts():
    state = ResNet(depth=50).state_dict()
    # stem: conv1 + bn1 (5 entries); 16 bottlenecks: 3 convs + 3 bns; 4 projections
    assert len(state) == 1 + 5 + 16 * (3 + 3 * 5) + 4 * (1 + 5)
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert state["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)
    assert state["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert state["layer4.2.bn3.running_var"].shape == (2048,)
    assert state["bn1.num_batches_tracked"].dtype == torch.long
    assert "layer1.1.downsample.0.weight" not in state
    assert not any(k.startswith("stem.") for k in state)


def test_resnet50_state_dict_snapshot(snapshot):
    state = ResNet(depth=50).state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == snapshot


def test_deep_stem_and_avg_down_structure():
    model = ResNetV1d(depth=50, base_channels=2, stem_channels=8)
    keys = set(model.state_dict())
    assert {"stem.0.weight", "stem.1.running_mean", "stem.3.weight", "stem.7.bias"} <= keys
    assert "conv1.weight" not in keys and "bn1.weight" not in keys
    assert [model.stem[i].stride for i in (0, 3, 6)] == [(2, 2), (1, 1), (1, 1)]
    shortcut = model.layer2[0].downsample
    assert isinstance(shortcut[0], nn.AvgPool2d) and shortcut[1].stride == (1, 1)
    # mmdet quirk kept: a stride-1 projection still gets a (1x1, identity) AvgPool2d, so
    # its conv and norm sit at indices 1 and 2
    model = ResNetV1d(depth=50, base_channels=2, stem_channels=4)
    assert isinstance(model.layer1[0].downsample[0], nn.AvgPool2d)
    assert model.layer1[0].downsample[0].kernel_size == 1
    assert "layer1.0.downsample.1.weight" in model.state_dict()
    with pytest.raises(TypeError, match="deep_stem"):
        ResNetV1d(depth=50, deep_stem=False)


@pytest.mark.parametrize("style", ["pytorch", "caffe"])
def test_style_places_the_stride(style):
    model = ResNet(depth=50, base_channels=2, style=style)
    block = model.layer2[0]
    strides = (block.conv1.stride, block.conv2.stride)
    assert strides == (((1, 1), (2, 2)) if style == "pytorch" else ((2, 2), (1, 1)))


def test_init_weights_kaiming_constant_and_zero_residual():
    torch.manual_seed(0)
    model = ResNet(depth=18, base_channels=16)
    model.init_weights()
    conv = model.layer4[1].conv2  # 128 x 128 x 3 x 3
    fan_out = conv.out_channels * 9
    std = conv.weight.std().item()
    assert abs(std - math.sqrt(2.0 / fan_out)) < 0.02 * math.sqrt(2.0 / fan_out)
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    for module in model.modules():
        if isinstance(module, BasicBlock):
            assert torch.all(module.norm2.weight == 0) and torch.all(module.norm1.weight == 1)

    model = ResNet(depth=50, base_channels=2, zero_init_residual=False)
    model.init_weights()
    assert all(torch.all(m.norm3.weight == 1) for m in model.modules() if isinstance(m, Bottleneck))


def test_zero_init_residual_blocks_are_identity_plus_shortcut():
    model = ResNet(depth=50, base_channels=2).eval()
    model.init_weights()
    block = model.layer1[1]  # no projection: output == relu(input)
    x = torch.randn(1, 8, 5, 6)
    with torch.no_grad():
        assert torch.equal(block(x), torch.relu(x))


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(1)
    plain = ResNet(depth=18, base_channels=2, norm_eval=False)
    ckpt = ResNet(depth=18, base_channels=2, norm_eval=False, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    results = []
    for model in (plain, ckpt):
        model.train()
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3), requires_grad=True)
        outs = model(x)
        sum(o.sum() for o in outs).backward()
        results.append((outs, x.grad, model.layer2[0].conv1.weight.grad))
    for got, want in zip(results[1][0], results[0][0]):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(results[1][2], results[0][2], rtol=1e-6, atol=1e-7)


def test_pretrained_init_cfg_is_recorded_but_init_weights_refuses():
    model = ResNet(depth=18, base_channels=2, init_cfg={"type": "Pretrained", "checkpoint": "torchvision://resnet18"})
    assert model.init_cfg["checkpoint"] == "torchvision://resnet18"
    with pytest.raises(NotImplementedError, match="checkpoint"):
        model.init_weights()
    with pytest.raises(NotImplementedError):
        ResNet(depth=18, init_cfg={"type": "Kaiming"})
