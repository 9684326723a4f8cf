"""mmcv's focal-loss kernel formulas (mmdet's CUDA path) against the CPU formula and their own gradient.

No CPU kernel of mmcv exists to compare with, so the kernel path is checked where the two
formulas agree mathematically (logits within +-20), on its saturation (the logarithm's
argument clamped at FLT_MIN) and on its closed-form gradient (against autograd of the
CPU formula, in float64).
"""

import math

import torch

from visdet.models.losses import FocalLoss, sigmoid_focal_loss, sigmoid_focal_loss_kernel
from visdet.models.losses.focal_loss import FLT_MIN, one_hot_targets


def _draw(n=50, c=6, seed=0, scale=4.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pred = (torch.randn(n, c, generator=g) * scale).to(dtype)
    target = torch.randint(0, c + 1, (n,), generator=g)
    weight = torch.rand(n, generator=g).to(dtype)
    return pred, target, weight


def test_kernel_formula_equals_the_cpu_formula_on_ordinary_logits():
    pred, target, weight = _draw()
    for kwargs in ({}, {"gamma": 1.5, "alpha": 0.4}, {"reduction": "none"}, {"avg_factor": 7.0}):
        pred_k = pred.clone().requires_grad_(True)
        pred_p = pred.clone().requires_grad_(True)
        loss_k = sigmoid_focal_loss_kernel(pred_k, target, weight, **kwargs)
        loss_p = sigmoid_focal_loss(pred_p, one_hot_targets(target, pred.size(1)), weight, **kwargs)
        # the kernel's forward sigmoid uses a float32 exp: float32-level agreement in float64
        torch.testing.assert_close(loss_k, loss_p, rtol=1e-6, atol=1e-9)
        loss_k.sum().backward()
        loss_p.sum().backward()
        torch.testing.assert_close(pred_k.grad, pred_p.grad, rtol=1e-10, atol=1e-12)


def test_kernel_saturates_where_the_log_argument_is_clamped():
    pred = torch.tensor([[-200.0, 200.0]])
    target = torch.tensor([0])  # class 0 positive with a very negative logit, class 1 negative with a large one
    loss = sigmoid_focal_loss_kernel(pred, target, reduction="none")
    cap = -math.log(FLT_MIN)
    torch.testing.assert_close(loss, torch.tensor([[0.25 * cap, 0.75 * cap]]))
    # the CPU formula keeps growing with the logit
    cpu = sigmoid_focal_loss(pred, one_hot_targets(target, 2), reduction="none")
    assert (cpu > loss * 2).all()


def test_module_picks_the_formula_as_mmdet():
    pred, target, weight = _draw(dtype=torch.float32)
    loss = FocalLoss(loss_weight=2.0)(pred, target, weight, avg_factor=5.0)
    expected = 2.0 * sigmoid_focal_loss(pred, one_hot_targets(target, 6), weight, avg_factor=5.0)
    assert torch.equal(loss, expected)
    if torch.cuda.is_available():
        got = FocalLoss()(pred.cuda(), target.cuda(), weight.cuda())
        torch.testing.assert_close(got.cpu(), FocalLoss()(pred, target, weight), rtol=1e-5, atol=1e-6)
