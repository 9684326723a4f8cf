import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.losses import L1Loss, SmoothL1Loss, smooth_l1_loss


def _data(seed, n=8):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, 4, generator=gen),
        torch.randn(n, 4, generator=gen),
        torch.rand(n, 4, generator=gen),
    )


@pytest.mark.parametrize("beta", [1.0, 0.11, 3.0])
def test_smooth_l1_matches_torch(beta):
    pred, target, _ = _data(0)
    torch.testing.assert_close(
        SmoothL1Loss(beta=beta)(pred, target), F.smooth_l1_loss(pred, target, beta=beta)
    )


def test_weights_avg_factor_and_loss_weight():
    pred, target, weight = _data(1)
    elem = (pred - target).abs()
    torch.testing.assert_close(
        L1Loss(loss_weight=2.0)(pred, target, weight, avg_factor=5.0),
        2 * (elem * weight).sum() / 5.0,
    )
    torch.testing.assert_close(L1Loss(reduction="sum")(pred, target, weight), (elem * weight).sum())
    torch.testing.assert_close(L1Loss()(pred, target, reduction_override="none"), elem)
    with pytest.raises(ValueError, match="sum"):
        SmoothL1Loss()(pred, target, avg_factor=3.0, reduction_override="sum")


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    module=st.sampled_from([L1Loss, SmoothL1Loss]),
    per_row=st.booleans(),
)
def test_zero_weight_is_zero_and_keeps_graph(seed, module, per_row):
    pred, target, _ = _data(seed)
    pred.requires_grad_(True)
    weight = torch.zeros(8) if per_row else torch.zeros(8, 4)
    loss = module()(pred, target, weight)
    assert loss == 0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_empty_target_and_errors():
    pred = torch.zeros(0, 4, requires_grad=True)
    assert SmoothL1Loss()(pred, torch.zeros(0, 4)) == 0
    assert L1Loss()(pred, torch.zeros(0, 4), avg_factor=1.0) == 0
    with pytest.raises(ValueError, match="beta"):
        SmoothL1Loss(beta=0.0)
    with pytest.raises(ValueError, match="pred"):
        smooth_l1_loss(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="'avg'"):
        L1Loss(reduction="avg")
