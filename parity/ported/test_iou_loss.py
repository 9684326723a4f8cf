# Ported from mmdet tests/test_models/test_losses/test_loss.py (mmdet 3.3.0), the IoULoss and
# GIoULoss parametrisations of test_iou_type_loss_zeros_weight, test_loss_with_reduction_override
# and test_regression_losses, rewritten for visdet. Upstream expects AssertionError for a bad
# reduction_override and for avg_factor with reduction "sum"; visdet raises ValueError.
import pytest
import torch

from visdet.models.losses import GIoULoss, IoULoss

IOU_TYPE_LOSSES = [IoULoss, GIoULoss]


@pytest.mark.parametrize("loss_class", IOU_TYPE_LOSSES)
def test_iou_type_loss_zeros_weight(loss_class):
    pred = torch.rand((10, 4))
    target = torch.rand((10, 4))
    loss = loss_class()(pred, target, torch.zeros(10))
    assert loss == 0.0


@pytest.mark.parametrize("loss_class", IOU_TYPE_LOSSES)
def test_loss_with_reduction_override(loss_class):
    pred = torch.rand((10, 4))
    target = torch.rand((10, 4))
    with pytest.raises(ValueError, match="reduction_override"):
        loss_class()(pred, target, None, reduction_override=True)


@pytest.mark.parametrize("loss_class", IOU_TYPE_LOSSES)
@pytest.mark.parametrize("input_shape", [(10, 4), (0, 4)])
def test_regression_losses(loss_class, input_shape):
    pred = torch.rand(input_shape)
    target = torch.rand(input_shape)
    weight = torch.rand(input_shape)

    assert isinstance(loss_class()(pred, target), torch.Tensor)
    assert isinstance(loss_class()(pred, target, weight), torch.Tensor)
    assert isinstance(loss_class()(pred, target, reduction_override="mean"), torch.Tensor)
    assert isinstance(loss_class()(pred, target, avg_factor=10), torch.Tensor)
    with pytest.raises(ValueError):
        loss_class()(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in [None, "none", "mean"]:
        loss = loss_class()(pred, target, avg_factor=10, reduction_override=reduction_override)
        assert isinstance(loss, torch.Tensor)
