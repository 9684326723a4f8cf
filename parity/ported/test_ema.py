# Ported from mmdet tests/test_models/test_layers/test_ema.py (mmdet 3.3.0), rewritten for visdet:
# the averaged values are derived by hand from the exponential-momentum rule and compared with
# visdet's ExpMomentumEMA (a bad gamma raises ValueError where upstream expects AssertionError).
import itertools
import math

import pytest
import torch
from torch import nn

from visdet.engine.ema import ExpMomentumEMA


def _hand_average(tensors_per_step, momentum, gamma):
    average = None
    for step, tensors in enumerate(tensors_per_step):
        if step == 0:
            average = [t.clone() for t in tensors]
            continue
        m = (1 - momentum) * math.exp(-(1 + step) / gamma) + momentum
        average = [a * (1 - m) + t * m for a, t in zip(average, tensors)]
    return average


def _drive(model, ema, tensors, steps=10):
    seen = []
    for _ in range(steps):
        with torch.no_grad():
            for t in tensors():
                t.add_(torch.randn_like(t))
        seen.append([t.detach().clone() for t in tensors()])
        ema.update_parameters(model)
    return seen


def test_exp_momentum_ema():
    model = nn.Sequential(nn.Conv2d(1, 5, kernel_size=3), nn.Linear(5, 10))
    with pytest.raises(ValueError, match="gamma must be greater than 0"):
        ExpMomentumEMA(model, gamma=-1)
    torch.manual_seed(0)
    ema = ExpMomentumEMA(model, momentum=0.1, gamma=4)
    seen = _drive(model, ema, lambda: list(model.parameters()))
    for expected, got in zip(_hand_average(seen, 0.1, 4), ema.module.parameters()):
        torch.testing.assert_close(got, expected)


def test_exp_momentum_ema_update_buffer():
    model = nn.Sequential(nn.Conv2d(1, 5, kernel_size=3), nn.BatchNorm2d(5, momentum=0.3), nn.Linear(5, 10))
    with pytest.raises(ValueError, match="gamma must be greater than 0"):
        ExpMomentumEMA(model, gamma=-1)
    torch.manual_seed(0)
    ema = ExpMomentumEMA(model, gamma=4, momentum=0.1, update_buffers=True)

    def averaged(m):  # parameters and buffers, without the scalar num_batches_tracked
        return [t for t in itertools.chain(m.parameters(), m.buffers()) if t.dim() > 0]

    seen = _drive(model, ema, lambda: averaged(model))
    for expected, got in zip(_hand_average(seen, 0.1, 4), averaged(ema.module)):
        torch.testing.assert_close(got, expected)
