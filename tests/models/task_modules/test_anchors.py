import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.task_modules import AnchorGenerator, PriorGenerator


def test_base_anchor_sizes_follow_ratio_and_scale():
    gen = AnchorGenerator(strides=[16], ratios=[0.5, 1.0, 2.0], scales=[2.0, 4.0])
    base = gen.base_anchors[0]
    assert base.shape == (6, 4)
    w = base[:, 2] - base[:, 0]
    h = base[:, 3] - base[:, 1]
    # scale_major: ratio outer, scale inner
    ratios = torch.tensor([0.5, 0.5, 1.0, 1.0, 2.0, 2.0])
    scales = torch.tensor([2.0, 4.0, 2.0, 4.0, 2.0, 4.0])
    torch.testing.assert_close(h / w, ratios)
    torch.testing.assert_close(torch.sqrt(w * h), 16 * scales)
    # centred on the cell origin (center_offset 0)
    torch.testing.assert_close(base[:, :2] + base[:, 2:], torch.zeros(6, 2))


def test_scale_minor_order_and_center_offset():
    gen = AnchorGenerator(
        strides=[8], ratios=[1.0, 4.0], scales=[1.0, 3.0], scale_major=False, center_offset=0.5
    )
    base = gen.base_anchors[0]
    w = base[:, 2] - base[:, 0]
    h = base[:, 3] - base[:, 1]
    torch.testing.assert_close(h / w, torch.tensor([1.0, 4.0, 1.0, 4.0]))
    torch.testing.assert_close((base[:, 0] + base[:, 2]) / 2, torch.full((4,), 4.0))


def test_octave_scales():
    gen = AnchorGenerator(strides=[8], ratios=[1.0], octave_base_scale=4, scales_per_octave=3)
    expected = torch.tensor([4 * 2 ** (i / 3) for i in range(3)], dtype=torch.float32)
    torch.testing.assert_close(gen.scales, expected)


def test_grid_priors_shift_by_stride_row_major():
    gen = AnchorGenerator(strides=[(10, 20)], ratios=[1.0], scales=[1.0], base_sizes=[4])
    anchors = gen.grid_priors([(2, 3)])[0]
    assert anchors.shape == (6, 4)
    centers = (anchors[:, :2] + anchors[:, 2:]) / 2
    expected = torch.tensor(
        [[0, 0], [10, 0], [20, 0], [0, 20], [10, 20], [20, 20]], dtype=torch.float32
    )
    torch.testing.assert_close(centers, expected)


def test_grid_priors_dtype_device_and_level_count_check():
    gen = AnchorGenerator(strides=[4, 8], ratios=[1.0], scales=[8])
    out = gen.grid_priors([(2, 2), (1, 1)], dtype=torch.float64)
    assert all(a.dtype == torch.float64 for a in out)
    with pytest.raises(ValueError, match="featmap_sizes has 1 levels"):
        gen.grid_priors([(2, 2)])


def test_valid_flags_mark_cells_inside_padded_image():
    gen = AnchorGenerator(strides=[8], ratios=[0.5, 1.0], scales=[1.0])
    flags = gen.valid_flags([(4, 5)], pad_shape=(17, 24, 3))[0]
    # ceil(17/8)=3 rows, ceil(24/8)=3 cols valid, 2 anchors per cell
    grid = flags.view(4, 5, 2)
    assert grid[:3, :3].all() and not grid[3:].any() and not grid[:, 3:].any()
    assert flags.dtype == torch.bool


def test_sparse_priors_match_grid():
    gen = AnchorGenerator(strides=[16, 32], ratios=[1.0, 2.5], scales=[1.0, 5.0], base_sizes=[4, 8])
    sizes = [(13, 5), (16, 4)]
    grid = gen.grid_priors(sizes)
    idxs = torch.tensor([4, 5, 6, 7, 0, 2, 50, 9])
    for level in range(2):
        torch.testing.assert_close(gen.sparse_priors(idxs, sizes[level], level), grid[level][idxs])


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="scales"):
        AnchorGenerator(strides=[8], ratios=[1.0])
    with pytest.raises(ValueError, match="scales"):
        AnchorGenerator(
            strides=[8], ratios=[1.0], scales=[1.0], octave_base_scale=4, scales_per_octave=2
        )
    with pytest.raises(ValueError, match="center_offset"):
        AnchorGenerator(strides=[8], ratios=[1.0], scales=[1.0], center_offset=2.0)
    with pytest.raises(ValueError, match="base_sizes"):
        AnchorGenerator(strides=[8, 16], ratios=[1.0], scales=[1.0], base_sizes=[8])


def test_is_a_prior_generator():
    assert isinstance(AnchorGenerator(strides=[8], ratios=[1.0], scales=[1.0]), PriorGenerator)


@settings(max_examples=30, deadline=None)
@given(
    stride=st.integers(1, 64),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    ratios=st.lists(st.floats(0.2, 5.0), min_size=1, max_size=3),
    scales=st.lists(st.floats(0.5, 8.0), min_size=1, max_size=3),
)
def test_grid_is_base_anchors_plus_cell_shift(stride, h, w, ratios, scales):
    gen = AnchorGenerator(strides=[stride], ratios=ratios, scales=scales)
    anchors = gen.grid_priors([(h, w)])[0].view(h, w, -1, 4)
    base = gen.base_anchors[0]
    assert gen.num_base_priors == [len(ratios) * len(scales)]
    row, col = h - 1, w - 1
    shift = torch.tensor([col * stride, row * stride] * 2, dtype=torch.float32)
    torch.testing.assert_close(anchors[row, col], base + shift)
    assert math.isclose(float((anchors[0, 0] - base).abs().max()), 0.0)
