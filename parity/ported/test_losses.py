# Ported from mmdet tests/test_models/test_losses/test_loss.py (mmdet 3.3.0): the
# CrossEntropyLoss, L1Loss, SmoothL1Loss and FocalLoss parts (and the QualityFocalLoss and
# DiceLoss parametrisations of test_loss_with_reduction_override), rewritten for visdet. Where upstream
# expects AssertionError for a bad reduction_override, visdet raises ValueError naming it.
import pytest
import torch
import torch.nn.functional as F

from visdet.models.losses import CrossEntropyLoss, DiceLoss, FocalLoss, L1Loss, QualityFocalLoss, SmoothL1Loss


@pytest.mark.parametrize("loss_class", [CrossEntropyLoss, FocalLoss, L1Loss, SmoothL1Loss, QualityFocalLoss, DiceLoss])
def test_loss_with_reduction_override(loss_class):
    pred = torch.rand((10, 4))
    target = torch.rand((10, 4))
    with pytest.raises(ValueError, match="reduction_override"):
        loss_class()(pred, target, None, reduction_override=True)


@pytest.mark.parametrize("loss_class", [L1Loss, SmoothL1Loss])
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


@pytest.mark.parametrize("input_shape", [(10, 5), (0, 5)])
def test_classification_losses(input_shape):
    pred = torch.rand(input_shape)
    target = torch.randint(0, 5, (input_shape[0],))

    assert isinstance(CrossEntropyLoss()(pred, target), torch.Tensor)
    assert isinstance(CrossEntropyLoss()(pred, target, reduction_override="mean"), torch.Tensor)
    assert isinstance(CrossEntropyLoss()(pred, target, avg_factor=10), torch.Tensor)
    with pytest.raises(ValueError):
        CrossEntropyLoss()(pred, target, avg_factor=10, reduction_override="sum")
    for reduction_override in [None, "none", "mean"]:
        loss = CrossEntropyLoss()(
            pred, target, avg_factor=10, reduction_override=reduction_override
        )
        assert isinstance(loss, torch.Tensor)


@pytest.mark.filterwarnings("ignore:CrossEntropyLoss")
@pytest.mark.parametrize("use_sigmoid", [True, False])
@pytest.mark.parametrize("reduction", ["sum", "mean", None])
@pytest.mark.parametrize("avg_non_ignore", [True, False])
def test_loss_with_ignore_index(use_sigmoid, reduction, avg_non_ignore):
    loss_class = CrossEntropyLoss(
        use_sigmoid=use_sigmoid, use_mask=False, ignore_index=255, avg_non_ignore=avg_non_ignore
    )
    pred = torch.rand((10, 5))
    target = torch.randint(0, 5, (10,))
    ignored_indices = torch.randint(0, 10, (2,), dtype=torch.long)
    target[ignored_indices] = 255

    loss_with_ignore = loss_class(pred, target, reduction_override=reduction)
    assert isinstance(loss_with_ignore, torch.Tensor)
    loss_with_forward_ignore = loss_class(
        pred, target, ignore_index=255, reduction_override=reduction
    )
    assert isinstance(loss_with_forward_ignore, torch.Tensor)

    if avg_non_ignore:
        keep = target != 255
        pred, target = pred[keep], target[keep]
    loss = loss_class(pred, target, reduction_override=reduction)
    assert torch.allclose(loss, loss_with_ignore)
    assert torch.allclose(loss, loss_with_forward_ignore)

    pred = torch.rand((10, 5))
    target = torch.ones((10,), dtype=torch.long) * 255
    assert loss_class(pred, target, reduction_override=reduction) == 0


def _focal_by_hand(pred, one_hot, gamma=2.0, alpha=0.25):
    """The focal-loss formula written out elementwise (Lin et al., eq. 5 with alpha)."""
    p = pred.sigmoid()
    t = one_hot.to(pred.dtype)
    p_t = p * t + (1 - p) * (1 - t)
    alpha_t = alpha * t + (1 - alpha) * (1 - t)
    return -alpha_t * (1 - p_t) ** gamma * torch.log(p_t)


@pytest.mark.parametrize("input_shape", [(10, 5), (3, 5, 40, 40)])
def test_focal_loss(input_shape):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(input_shape, generator=g, dtype=torch.float64)
    if len(input_shape) == 2:
        target = torch.randint(0, 5, (input_shape[0],), generator=g)  # class indices
        one_hot = F.one_hot(target, 6)[:, :5]
    else:
        b, n, w, h = input_shape
        target = F.one_hot(torch.randint(0, 5, (b * w * h,), generator=g), 5).reshape(b, w, h, n).permute(0, 3, 1, 2)
        one_hot = target
    elementwise = _focal_by_hand(pred, one_hot)

    loss = FocalLoss()(pred, target)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0
    torch.testing.assert_close(loss, elementwise.mean())
    torch.testing.assert_close(FocalLoss()(pred, target, reduction_override="mean"), elementwise.mean())
    torch.testing.assert_close(FocalLoss()(pred, target, avg_factor=10), elementwise.sum() / 10)
    with pytest.raises(ValueError):
        # avg_factor works only with the reductions None, "none" and "mean"
        FocalLoss()(pred, target, avg_factor=10, reduction_override="sum")
    torch.testing.assert_close(FocalLoss()(pred, target, avg_factor=10, reduction_override="none"), elementwise)
    torch.testing.assert_close(FocalLoss()(pred, target, avg_factor=10, reduction_override="mean"),
                               elementwise.sum() / 10)
