# Ported from mmcv tests/test_ops/test_ms_deformable_attn.py (mmcv 2.1.0), rewritten for visdet, which
# has one implementation (mmcv's PyTorch path) on every device: the module test runs on CPU and, when
# present, CUDA; the numerical gradient check runs on visdet's function in float64 on CPU (upstream checks
# mmcv's CUDA/MLU kernel), without the 1025-channel case (see parity/upstream/detr.yaml).
import pytest
import torch
from torch.autograd import gradcheck

from visdet.models.layers import MultiScaleDeformableAttention
from visdet.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

DEVICES = ["cpu", pytest.param("cuda:0", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
def test_multiscale_deformable_attention(device):
    with pytest.raises(ValueError):
        # embed_dims must be divisible by num_heads
        MultiScaleDeformableAttention(embed_dims=256, num_heads=7)
    device = torch.device(device)
    with pytest.warns(UserWarning, match="power of 2"):  # 3 channels per head: mmcv warns too
        MultiScaleDeformableAttention(embed_dims=6, num_levels=2, num_heads=2)
    msda = MultiScaleDeformableAttention(embed_dims=3, num_levels=2, num_heads=3)
    msda.init_weights()
    num_query, bs, embed_dims = 5, 1, 3
    query = torch.rand(num_query, bs, embed_dims).to(device)
    key = torch.rand(num_query, bs, embed_dims).to(device)
    spatial_shapes = torch.tensor([[2, 2], [1, 1]]).long().to(device)
    level_start_index = torch.tensor([0, 4]).long().to(device)
    reference_points = torch.rand(bs, num_query, 2, 2).to(device)
    msda.to(device)
    out = msda(query, key, key, reference_points=reference_points, spatial_shapes=spatial_shapes,
               level_start_index=level_start_index)  # fmt: skip
    assert out.shape == (num_query, bs, embed_dims)


def _inputs(channels, shapes):
    n, m, lq, levels, points = 1, 2, 2, 2, 2
    keys = sum(int(h * w) for h, w in shapes)
    value = torch.rand(n, keys, m, channels) * 0.01
    sampling_locations = torch.rand(n, lq, m, levels, points, 2)
    attention_weights = torch.rand(n, lq, m, levels, points) + 1e-5
    attention_weights /= attention_weights.sum(-1, keepdim=True).sum(-2, keepdim=True)
    return value, sampling_locations, attention_weights


def test_forward_multi_scale_deformable_attn_pytorch():
    shapes = torch.as_tensor([(6, 4), (3, 2)], dtype=torch.long)
    torch.manual_seed(3)
    value, locations, weights = _inputs(2, shapes)
    out = multi_scale_deformable_attn_pytorch(value.double(), shapes, locations.double(), weights.double()).detach()
    assert out.shape == (1, 2, 4) and out.dtype == torch.float64


@pytest.mark.parametrize("channels", [4, 30, 32, 64, 71])
def test_gradient_numerical(channels):
    shapes = torch.as_tensor([(3, 2), (2, 1)], dtype=torch.long)
    torch.manual_seed(channels)
    value, locations, weights = (t.double().requires_grad_(True) for t in _inputs(channels, shapes))

    def function(value, locations, weights):
        return multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)

    # upstream's settings for the float64 CUDA check: eps 1e-6, atol 1e-2 (bilinear sampling has kinks
    # at pixel centres, where a finite difference straddles two linear pieces)
    assert gradcheck(function, (value, locations, weights), eps=1e-6, atol=1e-2)
