"""mmengine's param_scheduler semantics: windows, chaining, conversion, resume (values derived by hand)."""

import math

import pytest
import torch

from visdet.engine.components.schedulers import RunLength, build_param_schedulers
from visdet.engine.optim.param_schedulers import ConstantLR, build_param_scheduler

RUN = RunLength(epoch_length=4, max_epochs=5, max_iters=20)


def _optimizer(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _curve(schedulers, optimizer, epochs=5, epoch_length=4, start=0):
    lrs = []
    for it in range(start, epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]["lr"])
        schedulers.after_iter()
        if (it + 1) % epoch_length == 0:
            schedulers.after_epoch()
    return lrs


def test_constant_lr_holds_the_factor_until_end_minus_one():
    optimizer = _optimizer()
    scheduler = ConstantLR(optimizer, factor=0.5, begin=0, end=4, by_epoch=False)
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    # mmengine's total_iters = end - begin - 1: the factor is undone at step 3
    assert lrs == pytest.approx([0.05, 0.05, 0.05, 0.1, 0.1, 0.1])


def test_a_later_cosine_continues_from_what_the_warmup_left_and_ends_at_eta_min():
    optimizer = _optimizer()
    chain = [{"type": "LinearLR", "start_factor": 0.5, "by_epoch": False, "end": 3},
             {"type": "CosineAnnealingLR", "eta_min": 0.01, "begin": 1, "by_epoch": True,
              "convert_to_iter_based": True}]  # fmt: skip
    lrs = _curve(build_param_schedulers(chain, optimizer=optimizer, run=RUN), optimizer)
    assert lrs[:3] == pytest.approx([0.05, 0.075, 0.1])
    assert lrs[3:5] == pytest.approx([0.1, 0.1])  # cosine: from iteration 4, T_max = (5 - 1) * 4 = 16
    for t in range(1, 16):
        assert lrs[4 + t] == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi * t / 16)) / 2)


def test_overlapping_schedules_multiply():
    optimizer = _optimizer()
    chain = [{"type": "ConstantLR", "factor": 0.5, "by_epoch": False, "end": 6},
             {"type": "MultiStepLR", "milestones": [1], "gamma": 0.1}]  # fmt: skip
    lrs = _curve(build_param_schedulers(chain, optimizer=optimizer, run=RUN), optimizer)
    assert lrs[:4] == pytest.approx([0.05] * 4) and lrs[4:5] == pytest.approx([0.005])
    assert lrs[5:] == pytest.approx([0.01] * 15)  # the constant factor ends at iteration 5


def test_resuming_the_scheduler_state_continues_the_same_curve():
    chain = [{"type": "LinearLR", "start_factor": 0.1, "by_epoch": False, "end": 6},
             {"type": "CosineAnnealingLR", "eta_min_ratio": 0.1, "begin": 2, "by_epoch": True,
              "convert_to_iter_based": True}]  # fmt: skip
    optimizer = _optimizer()
    full = _curve(build_param_schedulers(chain, optimizer=optimizer, run=RUN), optimizer)
    optimizer = _optimizer()
    first = build_param_schedulers(chain, optimizer=optimizer, run=RUN)
    _curve(first, optimizer, epochs=3)
    saved, optimizer_state = first.state_dict(), optimizer.state_dict()
    optimizer = _optimizer(lr=5.0)
    second = build_param_schedulers(chain, optimizer=optimizer, run=RUN)
    optimizer.load_state_dict(optimizer_state)
    second.load_state_dict(saved)
    assert _curve(second, optimizer, start=12) == full[12:]


def test_bad_scheduler_arguments():
    with pytest.raises(ValueError, match="end should be larger than begin"):
        build_param_scheduler(_optimizer(), "LinearLR", begin=3, end=3)
    with pytest.raises(ValueError, match="epoch_length"):
        build_param_scheduler(_optimizer(), "LinearLR", convert_to_iter_based=True)
    with pytest.raises(ValueError, match="factor must be in"):
        build_param_scheduler(_optimizer(), "ConstantLR", factor=2.0)
