# Ported from mmdet tests/test_models/test_backbones/test_resnet.py (mmdet 3.3.0)
# and the helpers in tests/test_models/test_backbones/utils.py, rewritten for visdet:
# visdet constructors are keyword-only, mmdet's AssertionError/KeyError become
# ValueError, and DCN/plugins (not implemented) raise NotImplementedError.
import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from visdet.models.backbones import BasicBlock, Bottleneck, ResNet, ResNetV1d
from visdet.models.layers import ResLayer

BN = {"type": "BN"}


def is_block(module: nn.Module) -> bool:
    return isinstance(module, (BasicBlock, Bottleneck))


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.GroupNorm, _BatchNorm))


def all_norms_in_state(modules, training: bool) -> bool:
    return all(m.training == training for m in modules if isinstance(m, _BatchNorm))


def test_resnet_basic_block():
    with pytest.raises(NotImplementedError):
        BasicBlock(inplanes=64, planes=64, norm_cfg=BN, dcn={"type": "DCN"})
    with pytest.raises(NotImplementedError):
        BasicBlock(
            inplanes=64, planes=64, norm_cfg=BN, plugins=[{"cfg": {"type": "ContextBlock"}, "position": "after_conv3"}]
        )

    block = BasicBlock(inplanes=64, planes=64, norm_cfg=BN)
    assert block.conv1.in_channels == 64
    assert block.conv1.out_channels == 64
    assert block.conv1.kernel_size == (3, 3)
    assert block.conv2.in_channels == 64
    assert block.conv2.out_channels == 64
    assert block.conv2.kernel_size == (3, 3)
    x = torch.randn(1, 64, 56, 56)
    assert block(x).shape == (1, 64, 56, 56)

    block = BasicBlock(inplanes=64, planes=64, norm_cfg=BN, with_cp=True)
    assert block.with_cp
    assert block(x).shape == (1, 64, 56, 56)


def test_resnet_bottleneck():
    with pytest.raises(ValueError):
        Bottleneck(inplanes=64, planes=64, norm_cfg=BN, style="tensorflow")

    block = Bottleneck(inplanes=64, planes=16, norm_cfg=BN, with_cp=True)
    assert block.with_cp
    x = torch.randn(1, 64, 56, 56)
    assert block(x).shape == (1, 64, 56, 56)

    block = Bottleneck(inplanes=64, planes=64, stride=2, style="pytorch", norm_cfg=BN)
    assert block.conv1.stride == (1, 1)
    assert block.conv2.stride == (2, 2)
    block = Bottleneck(inplanes=64, planes=64, stride=2, style="caffe", norm_cfg=BN)
    assert block.conv1.stride == (2, 2)
    assert block.conv2.stride == (1, 1)

    with pytest.raises(NotImplementedError):
        Bottleneck(inplanes=64, planes=64, norm_cfg=BN, dcn={"type": "DCN"})

    block = Bottleneck(inplanes=64, planes=16, norm_cfg=BN)
    assert block(x).shape == (1, 64, 56, 56)


def test_resnet_res_layer():
    layer = ResLayer(block=Bottleneck, inplanes=64, planes=16, num_blocks=3, norm_cfg=BN)
    assert len(layer) == 3
    for i in range(len(layer)):
        assert layer[i].conv1.in_channels == 64
        assert layer[i].conv1.out_channels == 16
        assert layer[i].downsample is None
    x = torch.randn(1, 64, 56, 56)
    assert layer(x).shape == (1, 64, 56, 56)

    layer = ResLayer(block=Bottleneck, inplanes=64, planes=64, num_blocks=3, norm_cfg=BN)
    assert layer[0].downsample[0].out_channels == 256
    for i in range(1, len(layer)):
        assert layer[i].downsample is None
    assert layer(x).shape == (1, 256, 56, 56)

    layer = ResLayer(block=Bottleneck, inplanes=64, planes=64, num_blocks=3, stride=2, norm_cfg=BN)
    assert layer[0].downsample[0].out_channels == 256
    assert layer[0].downsample[0].stride == (2, 2)
    for i in range(1, len(layer)):
        assert layer[i].downsample is None
    assert layer(x).shape == (1, 256, 28, 28)

    layer = ResLayer(block=Bottleneck, inplanes=64, planes=64, num_blocks=3, stride=2, avg_down=True, norm_cfg=BN)
    assert isinstance(layer[0].downsample[0], nn.AvgPool2d)
    assert layer[0].downsample[1].out_channels == 256
    assert layer[0].downsample[1].stride == (1, 1)
    for i in range(1, len(layer)):
        assert layer[i].downsample is None
    assert layer(x).shape == (1, 256, 28, 28)

    layer = ResLayer(
        block=BasicBlock, inplanes=64, planes=64, num_blocks=3, stride=2, downsample_first=False, norm_cfg=BN
    )
    assert layer[2].downsample[0].out_channels == 64
    assert layer[2].downsample[0].stride == (2, 2)
    for i in range(len(layer) - 1):
        assert layer[i].downsample is None
    assert layer(x).shape == (1, 64, 28, 28)


def test_resnest_stem():
    model = ResNet(depth=50)
    assert model.stem_channels == 64
    assert model.conv1.out_channels == 64
    assert model.norm1.num_features == 64

    model = ResNet(depth=50, base_channels=3)
    assert model.stem_channels == 3
    assert model.conv1.out_channels == 3
    assert model.norm1.num_features == 3
    assert model.layer1[0].conv1.in_channels == 3

    model = ResNet(depth=50, stem_channels=3)
    assert model.stem_channels == 3
    assert model.conv1.out_channels == 3
    assert model.norm1.num_features == 3
    assert model.layer1[0].conv1.in_channels == 3

    model = ResNet(depth=50, stem_channels=3, base_channels=2)
    assert model.stem_channels == 3
    assert model.conv1.out_channels == 3
    assert model.norm1.num_features == 3
    assert model.layer1[0].conv1.in_channels == 3

    model = ResNetV1d(depth=50, stem_channels=6)
    model.train()
    assert model.stem[0].out_channels == 3
    assert model.stem[1].num_features == 3
    assert model.stem[3].out_channels == 3
    assert model.stem[4].num_features == 3
    assert model.stem[6].out_channels == 6
    assert model.stem[7].num_features == 6
    assert model.layer1[0].conv1.in_channels == 6


def _check_shapes(feat, expected):
    assert len(feat) == len(expected)
    for f, shape in zip(feat, expected):
        assert f.shape == torch.Size(shape)


def test_resnet_backbone():
    with pytest.raises(ValueError):
        ResNet(depth=20)
    with pytest.raises(ValueError):
        ResNet(depth=50, num_stages=0)
    with pytest.raises(NotImplementedError):
        ResNet(depth=50, dcn={"type": "DCN"}, stage_with_dcn=(True,))
    with pytest.raises(NotImplementedError):
        ResNet(depth=50, plugins=[{"cfg": {"type": "ContextBlock"}, "position": "after_conv3"}])
    with pytest.raises(ValueError):
        ResNet(depth=50, num_stages=5)
    with pytest.raises(ValueError):
        ResNet(depth=50, strides=(1,), dilations=(1, 1), num_stages=3)
    with pytest.raises(NotImplementedError):
        # mmdet: TypeError for a non-str pretrained; visdet refuses pretrained= entirely
        ResNet(depth=50, pretrained="torchvision://resnet50")
    with pytest.raises(ValueError):
        ResNet(depth=50, style="tensorflow")

    model = ResNet(depth=50, norm_eval=True, base_channels=1)
    model.train()
    assert all_norms_in_state(model.modules(), False)

    frozen_stages = 1
    model = ResNet(depth=50, frozen_stages=frozen_stages, base_channels=1)
    model.train()
    assert model.norm1.training is False
    for layer in [model.conv1, model.norm1]:
        for param in layer.parameters():
            assert param.requires_grad is False
    for i in range(1, frozen_stages + 1):
        layer = getattr(model, f"layer{i}")
        for mod in layer.modules():
            if isinstance(mod, _BatchNorm):
                assert mod.training is False
        for param in layer.parameters():
            assert param.requires_grad is False

    model = ResNetV1d(depth=50, frozen_stages=frozen_stages, base_channels=2)
    assert len(model.stem) == 9
    model.train()
    assert all_norms_in_state(model.stem, False)
    for param in model.stem.parameters():
        assert param.requires_grad is False
    for i in range(1, frozen_stages + 1):
        layer = getattr(model, f"layer{i}")
        for mod in layer.modules():
            if isinstance(mod, _BatchNorm):
                assert mod.training is False
        for param in layer.parameters():
            assert param.requires_grad is False

    imgs = torch.randn(1, 3, 32, 32)
    model = ResNet(depth=18)
    model.train()
    _check_shapes(model(imgs), [(1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2), (1, 512, 1, 1)])

    model = ResNet(depth=18, with_cp=True)
    for m in model.modules():
        if is_block(m):
            assert m.with_cp

    small = [(1, 4, 8, 8), (1, 8, 4, 4), (1, 16, 2, 2), (1, 32, 1, 1)]
    model = ResNet(depth=50, base_channels=1)
    for m in model.modules():
        if is_norm(m):
            assert isinstance(m, _BatchNorm)
    model.train()
    _check_shapes(model(imgs), small)

    model = ResNet(depth=50, out_indices=(0, 1, 2), base_channels=1)
    model.train()
    _check_shapes(model(imgs), small[:3])

    model = ResNet(depth=50, with_cp=True, base_channels=1)
    for m in model.modules():
        if is_block(m):
            assert m.with_cp
    model.train()
    _check_shapes(model(imgs), small)

    model = ResNet(depth=50, base_channels=4, norm_cfg={"type": "GN", "num_groups": 2, "requires_grad": True})
    for m in model.modules():
        if is_norm(m):
            assert isinstance(m, nn.GroupNorm)
    model.train()
    _check_shapes(model(imgs), [(1, 16, 8, 8), (1, 32, 4, 4), (1, 64, 2, 2), (1, 128, 1, 1)])

    model = ResNet(depth=50, zero_init_residual=True, base_channels=1)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, Bottleneck):
            assert torch.all(m.norm3.weight == 0) and torch.all(m.norm3.bias == 0)
        elif isinstance(m, BasicBlock):
            assert torch.all(m.norm2.weight == 0) and torch.all(m.norm2.bias == 0)
    model.train()
    _check_shapes(model(imgs), small)

    model = ResNetV1d(depth=50, base_channels=2)
    model.train()
    _check_shapes(model(imgs), [(1, 8, 8, 8), (1, 16, 4, 4), (1, 32, 2, 2), (1, 64, 1, 1)])
