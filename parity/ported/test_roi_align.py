# Ported from mmcv (2.1.0) tests/test_ops/test_roi_align.py, rewritten for visdet.
# The inputs, pooled outputs and gradients (of sum(out)) are upstream's numbers; the
# gradcheck runs in float64 as upstream. Upstream's RoIAlign module wrapper is not part of
# visdet.ops (it lives in the models layer), so the function is checked directly.
import numpy as np
import pytest
import torch

from visdet.ops import roi_align

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]

INPUTS = [
    ([[[[1.0, 2.0], [3.0, 4.0]]]], [[0.0, 0.0, 0.0, 1.0, 1.0]]),
    ([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 3.0], [2.0, 1.0]]]], [[0.0, 0.0, 0.0, 1.0, 1.0]]),
    (
        [[[[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0], [9.0, 10.0, 13.0, 14.0], [11.0, 12.0, 15.0, 16.0]]]],
        [[0.0, 0.0, 0.0, 3.0, 3.0]],
    ),
]
OUTPUTS = [
    ([[[[1.0, 1.25], [1.5, 1.75]]]], [[[[3.0625, 0.4375], [0.4375, 0.0625]]]]),
    (
        [[[[1.0, 1.25], [1.5, 1.75]], [[4.0, 3.75], [3.5, 3.25]]]],
        [[[[3.0625, 0.4375], [0.4375, 0.0625]], [[3.0625, 0.4375], [0.4375, 0.0625]]]],
    ),
    (
        [[[[1.9375, 4.75], [7.5625, 10.375]]]],
        [
            [
                [
                    [0.47265625, 0.42968750, 0.42968750, 0.04296875],
                    [0.42968750, 0.39062500, 0.39062500, 0.03906250],
                    [0.42968750, 0.39062500, 0.39062500, 0.03906250],
                    [0.04296875, 0.03906250, 0.03906250, 0.00390625],
                ]
            ]
        ],
    ),
]
POOL_H, POOL_W, SPATIAL_SCALE, SAMPLING_RATIO = 2, 2, 1.0, 2


def _roialign_gradcheck(device, dtype):
    for feats, rois in INPUTS:
        x = torch.tensor(feats, dtype=dtype, device=device, requires_grad=True)
        r = torch.tensor(rois, dtype=dtype, device=device)
        torch.autograd.gradcheck(
            lambda t, r=r: roi_align(t, r, (POOL_H, POOL_W), SPATIAL_SCALE, SAMPLING_RATIO), (x,), eps=1e-5, atol=1e-5
        )


def _roialign_allclose(device, dtype):
    for (feats, rois), (expected, expected_grad) in zip(INPUTS, OUTPUTS, strict=True):
        x = torch.tensor(feats, dtype=dtype, device=device, requires_grad=True)
        r = torch.tensor(rois, dtype=dtype, device=device)
        output = roi_align(x, r, (POOL_H, POOL_W), SPATIAL_SCALE, SAMPLING_RATIO, "avg", True)
        output.backward(torch.ones_like(output))
        assert np.allclose(output.data.float().cpu().numpy(), np.array(expected), atol=1e-3)
        assert np.allclose(x.grad.data.float().cpu().numpy(), np.array(expected_grad), atol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float, torch.double, torch.half])
def test_roialign(device, dtype):
    if dtype is torch.double:
        _roialign_gradcheck(device=device, dtype=dtype)
    _roialign_allclose(device=device, dtype=dtype)
