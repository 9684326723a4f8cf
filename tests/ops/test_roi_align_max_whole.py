"""RoIAlign max without gradients reads many RoIs from the whole map: the same values, bounded memory.

With more RoI patch pixels than map pixels (and a copy no larger than the output), the no-grad
max pass gathers from one channels-last copy of the whole map instead of copying each chunk's
patch (1000 RoIs of ``benchmarks/compare_ops.py``'s kind: 0.96 s -> 0.74 s on one thread); a
channels-last map is read as it is. Each RoI alone takes the patch route, which the mmcv
golden and live cases compare, so the batch must equal the RoIs one at a time bit for bit.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from tests.ops.spies import answers
from visdet.benchmark.memory import peak_memory
from visdet.ops.roi_align import roi_align

max_module = importlib.import_module("visdet.ops._roi_align_max")


def _rois(num: int, generator: torch.Generator, batch: int, height: int, width: int, scale: float) -> torch.Tensor:
    """Random RoIs in image coordinates, some partly or wholly outside the map, some of zero size."""
    size = torch.tensor([width, height], dtype=torch.float64) / scale
    xy = (torch.rand(num, 2, generator=generator, dtype=torch.float64) * 1.3 - 0.15) * size
    wh = torch.rand(num, 2, generator=generator, dtype=torch.float64) * size * 0.6
    wh[::17] = 0  # zero-size RoIs
    index = torch.randint(0, batch, (num, 1), generator=generator).double()
    return torch.cat([index, xy, xy + wh], dim=1).float()


@pytest.fixture
def routes():
    """Which route each call took: True for the whole map, False for patches."""
    with answers(max_module, "_whole_map") as seen:
        yield seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sampling_ratio, aligned, bins", [(0, True, (7, 7)), (2, False, (3, 4)), (0, False, (14, 14))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_whole_map_equals_each_roi_alone(routes, dtype, sampling_ratio, aligned, bins, channels_last):
    generator = torch.Generator().manual_seed(5)
    batch, channels, height, width, scale = 2, 6, 18, 23, 0.25
    features = torch.randn(batch, channels, height, width, generator=generator, dtype=dtype)
    if channels_last:
        features = features.to(memory_format=torch.channels_last)
    rois = _rois(120, generator, batch, height, width, scale).to(dtype)  # (rounded from float64 first)
    together = roi_align(features, rois, bins, scale, sampling_ratio, "max", aligned)
    assert routes == [True]
    alone = torch.cat([roi_align(features, roi[None], bins, scale, sampling_ratio, "max", aligned) for roi in rois])
    # a channels-last map is read whole even for one RoI; an NCHW one takes the patches then
    assert routes[1:] == [channels_last] * len(rois)
    assert torch.equal(together, alone)
    assert (together > max_module.MAX_POOL_INITIAL).float().mean() > 0.5  # mostly real samples


def test_a_nan_sample_is_never_the_maximum_on_the_whole_map(routes):
    generator = torch.Generator().manual_seed(6)
    features = torch.randn(1, 3, 10, 12, generator=generator)
    features[0, :, 4, 5] = float("nan")
    rois = _rois(60, generator, 1, 10, 12, 0.5)
    together = roi_align(features, rois, (2, 2), 0.5, 2, "max", True)
    alone = torch.cat([roi_align(features, roi[None], (2, 2), 0.5, 2, "max", True) for roi in rois])
    assert routes[0] and not any(routes[1:])
    assert not together.isnan().any()
    assert torch.equal(together, alone)


def test_the_copy_is_made_only_when_it_is_no_larger_than_the_output(routes):
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(2, 8, 40, 50, generator=generator)
    rois = _rois(40, generator, 2, 40, 50, 0.25)  # output 40 * 8 * 49 < map 2 * 8 * 2000
    roi_align(features, rois, (7, 7), 0.25, 0, "max", True)
    assert routes == [False]


def test_whole_map_temporaries_stay_within_twice_the_output(routes):
    """The map copy (no larger than the output) plus one chunk: peak <= 2x output + one chunk."""
    generator = torch.Generator().manual_seed(8)
    features = torch.randn(2, 64, 25, 38, generator=generator)
    rois = _rois(400, generator, 2, 25, 38, 0.25)
    output = roi_align(features, rois, (7, 7), 0.25, 0, "max", True)
    assert routes == [True]
    output_bytes = output.numel() * output.element_size()
    peak = peak_memory(lambda: roi_align(features, rois, (7, 7), 0.25, 0, "max", True), torch.device("cpu"))
    chunk_bytes = 4 * max_module._CHUNK_ELEMENTS * output.element_size()  # a chunk's few sample tensors
    assert peak.value <= 2 * output_bytes + chunk_bytes, f"{peak.value / output_bytes:.2f}x the output"
