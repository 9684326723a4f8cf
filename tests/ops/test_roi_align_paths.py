"""RoIAlign's other paths equal the reference passes exactly.

Max without gradients (``roi_align_max_no_grad``) against the slot pass (``RoIAlignMax``),
and avg on channels-last maps (patches copied in chunks of channels) against avg on the NCHW map.

The slot pass (which the parity goldens and live cases also check against mmcv) is the
reference: the same values bit for bit on random RoIs partly outside the map, zero-size
and legacy RoIs, fixed and adaptive sampling, channels-last and float64 maps, maps with
NaN and inf (also at pixel (0, 0), which out-of-range samples read), and chunks down to
one row of bins.
"""

from __future__ import annotations

import importlib
import itertools

import pytest
import torch

from visdet.ops.roi_align import roi_align

max_module = importlib.import_module("visdet.ops._roi_align_max")
avg_module = importlib.import_module("visdet.ops._roi_align_avg")


def _problem(seed: int, dtype: torch.dtype, channels: int = 6, num: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(2, channels, 20, 26, generator=gen, dtype=dtype)
    xy = torch.rand(num, 2, generator=gen, dtype=dtype) * 140 - 20  # some RoIs beyond the map (4 px per pixel)
    wh = torch.rand(num, 2, generator=gen, dtype=dtype) * 80
    wh[0] = 0  # a zero-size RoI
    batch = torch.randint(0, 2, (num, 1), generator=gen).to(dtype)
    return features, torch.cat([batch, xy, xy + wh], 1)


def _reference(features, rois, size, scale, ratio, aligned):
    return max_module.RoIAlignMax.apply(features.contiguous(), rois, size, scale, ratio, aligned)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [0, 2])
@pytest.mark.parametrize("seed", range(3))
def test_equals_slot_pass(seed, ratio, aligned, dtype):
    features, rois = _problem(seed, dtype)
    if seed == 1:
        features = features.relu()  # ties at 0
    expected = _reference(features, rois, (3, 4), 0.25, ratio, aligned)
    for layout in (torch.contiguous_format, torch.channels_last):
        result = roi_align(features.to(memory_format=layout), rois, (3, 4), 0.25, ratio, "max", aligned)
        assert result.is_contiguous() and result.dtype == dtype
        assert torch.equal(result, expected)


@pytest.mark.parametrize("chunk", [1, 40])
def test_small_chunks(monkeypatch, chunk):
    monkeypatch.setattr(max_module, "_CHUNK_ELEMENTS", chunk)
    features, rois = _problem(7, torch.float32, channels=3, num=4)
    expected = _reference(features, rois, (5, 5), 0.25, 0, True)
    assert torch.equal(roi_align(features, rois, (5, 5), 0.25, 0, "max", True), expected)


def test_non_finite_maps():
    features, rois = _problem(3, torch.float32)
    features[0, :, 0, 0] = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0, -2.0, 0.0])
    features[1, 1, 5:9, 5:9] = float("nan")
    features[1, 2, 3:12, 10:20] = float("inf")
    expected = _reference(features, rois, (3, 3), 0.25, 0, False)
    result = roi_align(features, rois, (3, 3), 0.25, 0, "max", False)
    torch.testing.assert_close(result, expected, rtol=0, atol=0, equal_nan=True)
    assert not result.isnan().any()  # mmcv's running maximum never takes a NaN


def test_gradients_use_the_slot_pass():
    features, rois = _problem(4, torch.float64)
    features.requires_grad_()
    result = roi_align(features, rois, (2, 2), 0.25, 2, "max", True)
    assert result.grad_fn is not None
    with torch.no_grad():
        assert torch.equal(roi_align(features, rois, (2, 2), 0.25, 2, "max", True), result.detach())


def test_empty_rois():
    features, _ = _problem(0, torch.float32)
    result = roi_align(features, torch.zeros(0, 5), (7, 7), 0.25, 0, "max", True)
    assert result.shape == (0, 6, 7, 7)


@pytest.mark.parametrize("ratio", [0, 2])
@pytest.mark.parametrize("aligned", [True, False])
def test_avg_on_channels_last_map_equals_nchw(ratio, aligned):
    features, rois = _problem(5, torch.float64)
    features.requires_grad_()
    expected = roi_align(features, rois, (3, 4), 0.25, ratio, "avg", aligned)
    (grad_expected,) = torch.autograd.grad(expected.sum(), features)
    channels_last = features.detach().to(memory_format=torch.channels_last).requires_grad_()
    result = roi_align(channels_last, rois, (3, 4), 0.25, ratio, "avg", aligned)
    (grad,) = torch.autograd.grad(result.sum(), channels_last)
    assert torch.equal(result, expected)
    assert torch.equal(grad, grad_expected)


@pytest.mark.parametrize("chunk", [1, 200, 1 << 16])
def test_mixed_rois_and_chunk_sizes(monkeypatch, chunk):
    """RoIs wholly inside, partly outside and empty side by side, chunks of one row to whole RoIs.

    The in-range flags, patch bounds and corner positions are computed for all RoIs up front
    and the maxima written into one buffer: each RoI must still get its own values.
    """
    monkeypatch.setattr(max_module, "_CHUNK_ELEMENTS", chunk)
    gen = torch.Generator().manual_seed(11)
    features = torch.randn(3, 5, 17, 23, generator=gen)
    inside = torch.tensor([[0, 8.0, 8.0, 60.0, 50.0], [2, 0.0, 0.0, 91.0, 67.0], [1, 30.0, 20.0, 31.0, 21.0]])
    outside = torch.tensor([[1, -30.0, -12.0, 40.0, 30.0], [0, 70.0, 50.0, 130.0, 99.0], [2, 50.0, 40.0, 50.0, 40.0]])
    rois = torch.cat([inside, outside, inside.flip(0)])
    for ratio, aligned in ((0, True), (3, False), (1, True)):
        expected = _reference(features, rois, (4, 3), 0.25, ratio, aligned)
        assert torch.equal(roi_align(features, rois, (4, 3), 0.25, ratio, "max", aligned), expected)


def test_nan_in_one_roi_redoes_every_roi():
    """A NaN sample under one RoI sends the whole call through the NaN-proof maximum."""
    features, rois = _problem(9, torch.float32, num=10)
    features[int(rois[4, 0]), :, :, :] = float("nan")  # every RoI on that image sees NaN
    features[:, :, 0, 0] = 1.0  # out-of-range samples read a finite pixel
    expected = _reference(features, rois, (3, 3), 0.25, 0, True)
    result = roi_align(features, rois, (3, 3), 0.25, 0, "max", True)
    torch.testing.assert_close(result, expected, rtol=0, atol=0, equal_nan=True)
    assert not result.isnan().any()


def _avg_and_grad(features, rois, size, ratio, aligned, weight):
    features = features.detach().requires_grad_()
    result = roi_align(features, rois, size, 0.25, ratio, "avg", aligned)
    (grad,) = torch.autograd.grad((result * weight).sum(), features)
    return result.detach(), grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk", [1, 60, 1000, 1 << 16])
def test_avg_channels_last_chunks_equal_nchw(monkeypatch, chunk, dtype):
    """Avg on a channels-last map, its patches copied in chunks of channels, equals the NCHW map's bit for bit.

    Chunks from one channel (every patch split per channel) through uneven splits to whole
    patches; RoIs partly outside the map, a zero-size one, legacy ones; adaptive sampling and
    fixed (listed rows and columns on the larger RoIs); 3x4 and 14x14 bins (float64 14x14
    products round differently when the second matmul is split by rows); values and gradients.
    """
    monkeypatch.setattr(avg_module, "_CHUNK_ELEMENTS", chunk)
    monkeypatch.setenv("VISDET_OP_THREADS", "1")  # the chunked path's condition (the default)
    gen = torch.Generator().manual_seed(13)
    # with MKL, 24 RoIs catch chunk products written to fresh tensors (float32 and 64), 4 RoIs
    # a second matmul split by chunk (float64, 14x14)
    for num, size, ratio, aligned in itertools.product([4, 24], [(3, 4), (14, 14)], [0, 1, 2], [True, False]):
        features, rois = _problem(12, dtype, channels=33, num=num)
        weight = torch.randn(num, 33, *size, generator=gen, dtype=dtype)
        expected, grad_expected = _avg_and_grad(features, rois, size, ratio, aligned, weight)
        channels_last = features.to(memory_format=torch.channels_last)
        result, grad = _avg_and_grad(channels_last, rois, size, ratio, aligned, weight)
        assert result.is_contiguous()
        assert torch.equal(result, expected), (num, size, ratio, aligned)
        assert torch.equal(grad, grad_expected), (num, size, ratio, aligned)


def test_avg_channels_last_without_rois():
    features, _ = _problem(0, torch.float32)
    channels_last = features.to(memory_format=torch.channels_last).requires_grad_()
    result = roi_align(channels_last, torch.zeros(0, 5), (7, 7), 0.25, 0, "avg", True)
    assert result.shape == (0, 6, 7, 7)
    (grad,) = torch.autograd.grad(result.sum(), channels_last)
    assert torch.equal(grad, torch.zeros_like(features))


def test_avg_channels_last_on_more_loop_threads_equals_nchw(monkeypatch):
    """With two loop threads the whole patch is copied: gemm would split chunks of it differently."""
    monkeypatch.setattr(avg_module, "_CHUNK_ELEMENTS", 1)
    monkeypatch.setenv("VISDET_OP_THREADS", "2")
    features, rois = _problem(12, torch.float64, channels=33, num=4)
    weight = torch.randn(4, 33, 3, 4, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    expected, grad_expected = _avg_and_grad(features, rois, (3, 4), 0, False, weight)
    result, grad = _avg_and_grad(features.to(memory_format=torch.channels_last), rois, (3, 4), 0, False, weight)
    assert torch.equal(result, expected)
    assert torch.equal(grad, grad_expected)
