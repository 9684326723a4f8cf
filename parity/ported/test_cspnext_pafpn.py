# Ported from mmyolo tests/test_models/test_necks/test_cspnext_pafpn.py (TestCSPNeXtPAFPN), rewritten
# for visdet's CSPNeXtPAFPN (mmdet's class; mmdet 3.3 ships no test of it). Upstream's neck is
# mmyolo's variant of the same PAFPN; the test uses only the arguments both share (in_channels,
# out_channels, use_depthwise). Upstream's depth-wise check is assertTrue(neck.conv, <class>),
# which holds for any attribute; here the depth-wise neck's downsampling and output convs are
# checked to be depthwise-separable, and it runs forward with the same output shapes.
import torch

from visdet.models.layers import DepthwiseSeparableConvModule
from visdet.models.necks import CSPNeXtPAFPN


def _check_outputs(neck: CSPNeXtPAFPN, size: int, out_channels: int, in_channels: list[int]) -> None:
    feats = [torch.rand(1, c, size // 2**i, size // 2**i) for i, c in enumerate(in_channels)]
    outs = neck(feats)
    assert len(outs) == len(feats)
    for i, out in enumerate(outs):
        assert out.shape[1] == out_channels
        assert out.shape[2] == out.shape[3] == size // 2**i


def test_forward():
    size, in_channels, out_channels = 64, [8, 16, 32], 24
    _check_outputs(CSPNeXtPAFPN(in_channels=in_channels, out_channels=out_channels), size, out_channels, in_channels)

    neck = CSPNeXtPAFPN(in_channels=in_channels, out_channels=out_channels, use_depthwise=True)
    assert all(isinstance(conv, DepthwiseSeparableConvModule) for conv in neck.downsamples)
    assert all(isinstance(conv, DepthwiseSeparableConvModule) for conv in neck.out_convs)
    _check_outputs(neck, size, out_channels, in_channels)
