import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.models.losses import reduce_loss, weight_reduce_loss
from visdet.models.losses.reduction import AVG_FACTOR_EPS


def test_reductions():
    loss = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert reduce_loss(loss, "mean") == 3.0
    assert reduce_loss(loss, "sum") == 12.0
    assert torch.equal(reduce_loss(loss, "none"), loss)


def test_bad_reduction_names_it():
    with pytest.raises(ValueError, match="'avg'"):
        reduce_loss(torch.ones(2), "avg")
    with pytest.raises(ValueError, match="reduction"):
        weight_reduce_loss(torch.ones(2), reduction="total")


def test_avg_factor_semantics():
    loss = torch.tensor([1.0, 2.0, 3.0])
    weight = torch.tensor([1.0, 0.0, 2.0])
    torch.testing.assert_close(
        weight_reduce_loss(loss, weight, "mean", avg_factor=2.0),
        torch.tensor(7.0 / (2.0 + AVG_FACTOR_EPS)),
    )
    torch.testing.assert_close(
        weight_reduce_loss(loss, weight, "none", avg_factor=2.0), loss * weight
    )
    with pytest.raises(ValueError, match="sum"):
        weight_reduce_loss(loss, weight, "sum", avg_factor=2.0)
    # a zero avg_factor with zero loss is 0, not NaN
    assert weight_reduce_loss(torch.zeros(3), None, "mean", avg_factor=0) == 0


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 20),
    seed=st.integers(0, 1000),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_zero_weight_gives_zero_loss(n, seed, reduction):
    loss = torch.rand(n, generator=torch.Generator().manual_seed(seed)) + 0.1
    out = weight_reduce_loss(loss, torch.zeros(n), reduction)
    assert (out == 0).all()
