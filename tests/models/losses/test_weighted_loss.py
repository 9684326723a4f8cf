"""``WeightedLoss``: a loss written as its formula alone gets mmdet's weighting and reduction."""

from __future__ import annotations

import pytest
import torch

from visdet.models.losses import L1Loss, WeightedLoss


class SquaredLoss(WeightedLoss):
    """A new loss: nothing but its formula."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target) ** 2


def test_a_formula_gets_weight_reduction_avg_factor_and_loss_weight():
    pred, target = torch.tensor([[1.0, 2.0], [3.0, 5.0]]), torch.zeros(2, 2)
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    loss = SquaredLoss(loss_weight=2.0)
    assert loss(pred, target).item() == pytest.approx(2.0 * (1 + 4 + 9 + 25) / 4)
    assert loss(pred, target, weight).item() == pytest.approx(2.0 * (1 + 9 + 25) / 4)
    assert loss(pred, target, weight, avg_factor=5).item() == pytest.approx(2.0 * 35 / 5, rel=1e-6)
    assert loss(pred, target, reduction_override="sum").item() == pytest.approx(2.0 * 39)
    assert torch.equal(loss(pred, target, reduction_override="none"), 2.0 * pred**2)
    with pytest.raises(ValueError, match="avg_factor"):
        loss(pred, target, avg_factor=2, reduction_override="sum")
    with pytest.raises(ValueError, match="reduction"):
        SquaredLoss(reduction="avg")


def test_zero_weight_shortcut_is_the_regression_losses_quirk():
    pred = torch.randn(3, 4, requires_grad=True)
    zeros = torch.zeros(3, 4)
    assert L1Loss.zero_weight_shortcut and not SquaredLoss.zero_weight_shortcut
    shortcut = L1Loss()(pred, torch.full((3, 4), float("nan")), zeros)  # the formula is not evaluated
    assert shortcut.item() == 0.0 and shortcut.requires_grad
    assert SquaredLoss()(pred, torch.ones(3, 4), zeros).item() == 0.0
