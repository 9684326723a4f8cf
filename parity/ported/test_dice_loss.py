# Ported from mmdet tests/test_models/test_losses/test_loss.py (mmdet 3.3.0): test_dice_loss,
# rewritten for visdet. Differences: upstream expects NotImplementedError at the call for
# use_sigmoid=False with activate=True and AssertionError for a bad weight; visdet raises
# ValueError (at construction for the former). Values are also checked against the formula
# written out by hand (upstream checks only the types).
import pytest
import torch

from visdet.models.losses import DiceLoss


@pytest.mark.parametrize("naive_dice", [True, False])
def test_dice_loss(naive_dice):
    pred = torch.rand((10, 4, 4))
    target = torch.rand((10, 4, 4))
    weight = torch.rand(10)
    loss_fn = DiceLoss(naive_dice=naive_dice)

    assert isinstance(loss_fn(pred, target), torch.Tensor)
    assert isinstance(loss_fn(pred, target, weight), torch.Tensor)
    assert isinstance(loss_fn(pred, target, reduction_override="mean"), torch.Tensor)
    assert isinstance(loss_fn(pred, target, avg_factor=10), torch.Tensor)
    with pytest.raises(ValueError):
        loss_fn(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in [None, "none", "mean"]:
        assert isinstance(loss_fn(pred, target, avg_factor=10, reduction_override=reduction_override), torch.Tensor)
    with pytest.raises(ValueError, match="use_sigmoid"):
        DiceLoss(use_sigmoid=False, activate=True, naive_dice=naive_dice)
    with pytest.raises(ValueError, match="weight"):
        loss_fn(pred, target, torch.rand((2, 8)))
    with pytest.raises(ValueError, match="weight"):
        loss_fn(pred, target, torch.rand(8))


def test_dice_loss_values_by_hand():
    # one 2x2 mask, probabilities given (activate=False): p = [.5, 1, 0, .5], t = [1, 1, 0, 0]
    pred = torch.tensor([[[0.5, 1.0], [0.0, 0.5]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    # V-Net: 1 - 2 * 1.5 / ((0.25 + 1 + 0.25 + eps) + (2 + eps))
    vnet = DiceLoss(activate=False, eps=0.0)(pred, target)
    torch.testing.assert_close(vnet, torch.tensor(1 - 3.0 / 3.5))
    # naive: 1 - (2 * 1.5 + eps) / (2 + 2 + eps)
    naive = DiceLoss(activate=False, naive_dice=True, eps=1.0)(pred, target)
    torch.testing.assert_close(naive, torch.tensor(1 - 4.0 / 5.0))
    # activate: the sigmoid of logits 0 is 0.5 everywhere: V-Net 1 - 2 * 1 / (1 + 2)
    torch.testing.assert_close(DiceLoss(eps=0.0)(torch.zeros(1, 2, 2), target), torch.tensor(1 - 2.0 / 3.0))
    # loss_weight, avg_factor (sum / (avg_factor + fp32 eps)) and per-mask weight
    two = torch.cat([pred, pred])
    weighted = DiceLoss(activate=False, eps=0.0, loss_weight=2.0)(
        two, torch.cat([target, target]), torch.tensor([1.0, 0.0]), avg_factor=4.0
    )
    torch.testing.assert_close(weighted, torch.tensor(2.0 * (1 - 3.0 / 3.5) / 4.0))
