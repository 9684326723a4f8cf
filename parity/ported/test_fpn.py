# Ported from mmdet tests/test_models/test_necks/test_necks.py::test_fpn (mmdet 3.3.0),
# rewritten for visdet: keyword-only constructor, mmdet's AssertionError becomes
# ValueError, and the shape checks upstream left as bare expressions are asserted.
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from visdet.models.necks import FPN

S = 64
IN_CHANNELS = [8, 16, 32, 64]
FEAT_SIZES = [S // 2**i for i in range(4)]  # [64, 32, 16, 8]
OUT_CHANNELS = 8


@pytest.fixture
def feats():
    return [torch.rand(1, c, s, s) for c, s in zip(IN_CHANNELS, FEAT_SIZES)]


def _fpn(**kwargs):
    return FPN(in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS, **kwargs)


def _check(outs, model, start_level=1):
    assert len(outs) == model.num_outs
    for i, out in enumerate(outs):
        assert out.shape[1] == OUT_CHANNELS
        assert out.shape[2] == out.shape[3] == S // 2 ** (i + start_level)


def test_fpn(feats):
    _fpn(start_level=0, end_level=-1, num_outs=5)
    _fpn(start_level=0, end_level=3, num_outs=5)

    with pytest.raises(ValueError):  # num_outs != end_level - start_level + 1
        _fpn(start_level=1, end_level=2, num_outs=3)
    with pytest.raises(ValueError):  # num_outs < len(in_channels) - start_level
        _fpn(start_level=1, num_outs=2)
    with pytest.raises(ValueError):  # end_level > len(in_channels) - 1
        _fpn(start_level=1, end_level=4, num_outs=2)
    with pytest.raises(ValueError):  # num_outs != end_level - start_level
        _fpn(start_level=1, end_level=3, num_outs=1)
    with pytest.raises(ValueError):  # invalid add_extra_convs
        _fpn(start_level=1, add_extra_convs="on_xxx", num_outs=5)

    model = _fpn(start_level=1, add_extra_convs=True, num_outs=5)
    outs = model(feats)
    assert model.add_extra_convs == "on_input"
    _check(outs, model)

    model = _fpn(start_level=1, add_extra_convs=False, num_outs=5)
    outs = model(feats)
    assert not model.add_extra_convs
    _check(outs, model)

    model = _fpn(
        start_level=1,
        add_extra_convs=True,
        no_norm_on_lateral=False,
        norm_cfg={"type": "BN", "requires_grad": True},
        num_outs=5,
    )
    outs = model(feats)
    assert model.add_extra_convs == "on_input"
    _check(outs, model)
    assert any(isinstance(m, _BatchNorm) for m in model.modules())

    model = _fpn(
        start_level=1, add_extra_convs=True, upsample_cfg={"mode": "bilinear", "align_corners": True}, num_outs=5
    )
    outs = model(feats)
    assert model.add_extra_convs == "on_input"
    _check(outs, model)

    model = _fpn(start_level=1, add_extra_convs=True, upsample_cfg={"scale_factor": 2}, num_outs=5)
    _check(model(feats), model)

    for source in ("on_input", "on_lateral", "on_output"):
        model = _fpn(add_extra_convs=source, start_level=1, num_outs=5)
        assert model.add_extra_convs == source
        _check(model(feats), model)
