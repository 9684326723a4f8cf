"""RTMDet-Ins's instance masks: per-instance dynamic convs over the prototypes (mmdet's ``RTMDetInsHead``).

Shapes: P prototypes ``mask_feat [P, H, W]`` at the first level's stride s0, n instances
with kernels ``[n, G]`` (G = ``sum(weight_nums) + sum(bias_nums)``) and priors ``[n, 4]``
(x, y, stride_w, stride_h). Each instance's input is its relative coordinates ``[2, H,
W]`` ``(prior - grid point) / (stride * 8)`` (the grid of level 0 with offset 0, float32 as
mmdet's ``single_level_grid_priors`` default) stacked before the P prototypes; then
``num_dyconvs`` 1x1 grouped convs (ReLU between them) with the instance's own weights
give one logit map ``[n, H, W]``.

Layer sizes (``dynamic_param_sizes``), as mmdet: the first layer maps P + 2 channels to
D (``dyconv_channels``), the middle ones D to D, the last D to 1; a single layer
(``num_dyconvs=1``) keeps the first layer's sizes and is then reshaped as the last one
(mmdet's arithmetic, kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from visdet.models.task_modules.protocols import PriorGenerator

#: mmdet divides the relative coordinates by ``stride * 8``.
COORD_NORM = 8


def dynamic_param_sizes(num_dyconvs: int, num_prototypes: int, dyconv_channels: int) -> tuple[list[int], list[int]]:
    """``(weight_nums, bias_nums)`` of the dynamic convs (see the module docstring)."""
    if num_dyconvs < 1:
        raise ValueError(f"num_dyconvs must be >= 1, got {num_dyconvs}")
    weight_nums, bias_nums = [], []
    for i in range(num_dyconvs):
        if i == 0:
            weight_nums.append((num_prototypes + 2) * dyconv_channels)
            bias_nums.append(dyconv_channels)
        elif i == num_dyconvs - 1:
            weight_nums.append(dyconv_channels)
            bias_nums.append(1)
        else:
            weight_nums.append(dyconv_channels * dyconv_channels)
            bias_nums.append(dyconv_channels)
    return weight_nums, bias_nums


def parse_dynamic_params(
    kernels: Tensor, weight_nums: list[int], bias_nums: list[int], dyconv_channels: int
) -> tuple[list[Tensor], list[Tensor]]:
    """Split ``kernels [n, G]`` into per-layer grouped-conv weights ``[n * out, in, 1, 1]`` and biases ``[n * out]``."""
    num_inst = kernels.size(0)
    num_layers = len(weight_nums)
    splits = list(torch.split_with_sizes(kernels, weight_nums + bias_nums, dim=1))
    weights, biases = splits[:num_layers], splits[num_layers:]
    for i in range(num_layers):
        out = dyconv_channels if i < num_layers - 1 else 1
        weights[i] = weights[i].reshape(num_inst * out, -1, 1, 1)
        biases[i] = biases[i].reshape(num_inst * out)
    return weights, biases


def dynamic_mask_logits(
    mask_feat: Tensor,
    kernels: Tensor,
    priors: Tensor,
    *,
    prior_generator: PriorGenerator,
    weight_nums: list[int],
    bias_nums: list[int],
    dyconv_channels: int,
) -> Tensor:
    """Mask logits ``[n, H, W]`` of n instances (mmdet's ``_mask_predict_by_feat_single``).

    Args:
        mask_feat: ``[P, H, W]`` prototypes of one image.
        kernels: ``[n, G]`` dynamic parameters.
        priors: ``[n, 4]`` points with strides.
        prior_generator: The head's point generator (level 0's grid).
        weight_nums: Weights per dynamic layer.
        bias_nums: Biases per dynamic layer.
        dyconv_channels: D.
    """
    num_inst = priors.shape[0]
    h, w = mask_feat.size()[-2:]
    if num_inst < 1:
        return torch.empty(size=(num_inst, h, w), dtype=mask_feat.dtype, device=mask_feat.device)
    if kernels.shape[0] != num_inst:
        raise ValueError(f"{kernels.shape[0]} kernels for {num_inst} priors")
    coord = prior_generator.single_level_grid_priors((h, w), level_idx=0, device=mask_feat.device).reshape(1, -1, 2)
    points = priors[:, :2].reshape(-1, 1, 2)
    strides = priors[:, 2:].reshape(-1, 1, 2)
    relative = (points - coord).permute(0, 2, 1) / (strides[..., 0].reshape(-1, 1, 1) * COORD_NORM)
    relative = relative.reshape(num_inst, 2, h, w)
    x = torch.cat([relative, mask_feat.repeat(num_inst, 1, 1, 1)], dim=1).reshape(1, -1, h, w)
    weights, biases = parse_dynamic_params(kernels, weight_nums, bias_nums, dyconv_channels)
    for i, (weight, bias) in enumerate(zip(weights, biases)):
        x = F.conv2d(x, weight, bias=bias, stride=1, padding=0, groups=num_inst)
        if i < len(weights) - 1:
            x = F.relu(x)
    return x.reshape(num_inst, h, w)
