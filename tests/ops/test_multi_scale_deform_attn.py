"""multi_scale_deformable_attn_pytorch: values checked against hand-computed bilinear samples."""

import pytest
import torch

from visdet.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch


def _one_level_value(height: int, width: int) -> torch.Tensor:
    """Value [1, H * W, 1, 1] whose pixel (r, c) holds 10 * r + c."""
    grid = torch.arange(height).view(-1, 1) * 10.0 + torch.arange(width).view(1, -1)
    return grid.reshape(1, height * width, 1, 1)


def _locations(points: list[tuple[float, float]]) -> torch.Tensor:
    """[1, Q, 1, 1, 1, 2] locations, one point per query."""
    return torch.tensor(points).view(1, len(points), 1, 1, 1, 2)


def test_pixel_centres_read_the_pixel_and_midpoints_average():
    value = _one_level_value(3, 4)
    shapes = torch.tensor([[3, 4]])
    # the centre of pixel (r, c) is ((c + 0.5) / W, (r + 0.5) / H)
    points = [((2 + 0.5) / 4, (1 + 0.5) / 3), ((0 + 0.5) / 4, (2 + 0.5) / 3), (2 / 4, 1.5 / 3)]
    out = multi_scale_deformable_attn_pytorch(value, shapes, _locations(points), torch.ones(1, 3, 1, 1, 1))
    # midpoint between columns 1 and 2 of row 1: (11 + 12) / 2
    torch.testing.assert_close(out.view(-1), torch.tensor([12.0, 20.0, 11.5]))


def test_points_outside_the_map_read_zero_padding():
    value = _one_level_value(2, 2) + 1.0  # pixels 1, 2, 11, 12
    shapes = torch.tensor([[2, 2]])
    # at x = 0 (the left border) the left neighbour is padding: half of pixel (0, 0); far outside: 0
    points = [(0.0, 0.25), (-1.0, 0.5), (0.25, 1.0)]
    out = multi_scale_deformable_attn_pytorch(value, shapes, _locations(points), torch.ones(1, 3, 1, 1, 1))
    torch.testing.assert_close(out.view(-1), torch.tensor([0.5, 0.0, 5.5]))


def test_levels_are_split_in_order_and_weighted():
    level0 = torch.full((1, 4, 1, 2), 1.0)  # 2 x 2 map of ones
    level1 = torch.full((1, 3, 1, 2), 3.0)  # 1 x 3 map of threes
    value = torch.cat([level0, level1], dim=1)
    value[..., 1] *= -1  # second channel negated
    shapes = torch.tensor([[2, 2], [1, 3]])
    locations = torch.full((1, 1, 1, 2, 1, 2), 0.5)
    weights = torch.tensor([0.25, 0.5]).view(1, 1, 1, 2, 1)
    out = multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)
    torch.testing.assert_close(out, torch.tensor([[[1.75, -1.75]]]))


def test_heads_are_concatenated_head_major():
    value = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)  # one key, heads 0 and 1, 2 channels each
    out = multi_scale_deformable_attn_pytorch(
        value, torch.tensor([[1, 1]]), torch.full((1, 1, 2, 1, 1, 2), 0.5), torch.ones(1, 1, 2, 1, 1)
    )
    torch.testing.assert_close(out.view(-1), torch.tensor([1.0, 2.0, 3.0, 4.0]))


def test_shape_errors_name_the_argument():
    value = torch.zeros(1, 5, 1, 2)
    with pytest.raises(ValueError, match="cover 4 keys"):
        multi_scale_deformable_attn_pytorch(value, torch.tensor([[2, 2]]), torch.zeros(1, 1, 1, 1, 1, 2),
                                            torch.zeros(1, 1, 1, 1, 1))  # fmt: skip
    with pytest.raises(ValueError, match="attention_weights"):
        multi_scale_deformable_attn_pytorch(torch.zeros(1, 4, 1, 2), torch.tensor([[2, 2]]),
                                            torch.zeros(1, 1, 1, 1, 1, 2), torch.zeros(1, 1, 1, 1, 2))  # fmt: skip
    with pytest.raises(ValueError, match="levels"):
        multi_scale_deformable_attn_pytorch(torch.zeros(1, 4, 1, 2), torch.tensor([[2, 2]]),
                                            torch.zeros(1, 1, 1, 2, 1, 2), torch.zeros(1, 1, 1, 2, 1))  # fmt: skip


def test_benchmark_case_runs_forward_and_train():
    from visdet.benchmark.cases import registered_cases
    from visdet.benchmark.runner import RunSettings, run_case

    fast = RunSettings(quick=True, warmup=0, min_run_time=0.001)
    result = run_case(registered_cases()["ops/multi_scale_deformable_attn"], "visdet", 8, fast)
    assert result.status == "ok", result.message
    assert {"forward_time", "train_time"} <= set(result.metrics)
