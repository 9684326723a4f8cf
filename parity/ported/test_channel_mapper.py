# Ported from mmdet tests/test_models/test_necks/test_necks.py::test_channel_mapper (mmdet 3.3.0),
# rewritten for visdet: keyword-only constructor, mmdet's AssertionErrors become TypeError (in_channels
# not a list) and ValueError (wrong number of input levels), and the shape checks upstream left as bare
# expressions are asserted.
import pytest
import torch

from visdet.models.necks import ChannelMapper

S = 64
IN_CHANNELS = [8, 16, 32, 64]
FEAT_SIZES = [S // 2**i for i in range(4)]  # [64, 32, 16, 8]
OUT_CHANNELS = 8
KERNEL_SIZE = 3


def test_channel_mapper():
    feats = [torch.rand(1, c, s, s) for c, s in zip(IN_CHANNELS, FEAT_SIZES)]

    # in_channels must be a list
    with pytest.raises(TypeError):
        ChannelMapper(in_channels=10, out_channels=OUT_CHANNELS, kernel_size=KERNEL_SIZE)
    # the number of inputs must equal len(in_channels)
    with pytest.raises(ValueError):
        ChannelMapper(in_channels=IN_CHANNELS[:-1], out_channels=OUT_CHANNELS, kernel_size=KERNEL_SIZE)(feats)

    channel_mapper = ChannelMapper(in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS, kernel_size=KERNEL_SIZE)
    outs = channel_mapper(feats)
    assert len(outs) == len(feats)
    for i, out in enumerate(outs):
        assert out.shape[1] == OUT_CHANNELS
        assert out.shape[2] == out.shape[3] == S // (2**i)
