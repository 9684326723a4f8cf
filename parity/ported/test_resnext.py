# Ported from mmdet tests/test_models/test_backbones/test_renext.py (mmdet 3.3.0),
# rewritten for visdet: ResNeXt blocks are visdet's Bottleneck with groups/base_width,
# constructors are keyword-only, mmdet's AssertionError/KeyError become ValueError and
# DCN/plugins raise NotImplementedError.
import pytest
import torch

from visdet.models.backbones import Bottleneck, ResNeXt

BN = {"type": "BN"}


def test_renext_bottleneck():
    with pytest.raises(ValueError):
        Bottleneck(inplanes=64, planes=64, groups=32, base_width=4, style="tensorflow", norm_cfg=BN)

    block = Bottleneck(inplanes=64, planes=64, groups=32, base_width=4, stride=2, style="pytorch", norm_cfg=BN)
    assert block.conv2.stride == (2, 2)
    assert block.conv2.groups == 32
    assert block.conv2.out_channels == 128

    with pytest.raises(NotImplementedError):
        Bottleneck(
            inplanes=64,
            planes=64,
            groups=32,
            base_width=4,
            norm_cfg=BN,
            dcn={"type": "DCN", "deform_groups": 1, "fallback_on_stride": False},
        )

    block = Bottleneck(inplanes=64, planes=16, groups=32, base_width=4, norm_cfg=BN)
    x = torch.randn(1, 64, 56, 56)
    assert block(x).shape == (1, 64, 56, 56)


def test_resnext_backbone():
    with pytest.raises(ValueError):
        ResNeXt(depth=18)

    model = ResNeXt(depth=50, groups=32, base_width=4)
    for m in model.modules():
        if isinstance(m, Bottleneck):
            assert m.conv2.groups == 32
    model.init_weights()
    model.train()
    feat = model(torch.randn(1, 3, 32, 32))
    assert [tuple(f.shape) for f in feat] == [(1, 256, 8, 8), (1, 512, 4, 4), (1, 1024, 2, 2), (1, 2048, 1, 1)]
