import math

import pytest
import torch

from visdet.engine.optim import build_scheduler, plot_schedule, schedule_values

BASE = 0.1


def _run(total, **kwargs):
    return schedule_values(base_lr=BASE, total_steps=total, **kwargs)


def test_cosine_matches_closed_form():
    total, floor = 50, 0.05
    values = _run(total, name="cosine", min_lr_ratio=floor)
    for t, lr in enumerate(values):
        expected = BASE * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t / total)))
        assert lr == pytest.approx(expected, rel=1e-9)


def test_linear_warmup_multiplies_main_schedule():
    total, warm, ratio = 40, 10, 0.001
    values = _run(total, name="multistep", milestones=[20, 30], gamma=0.1, warmup_steps=warm, warmup_ratio=ratio)
    for t, lr in enumerate(values):
        main = BASE * 0.1 ** sum(t >= m for m in (20, 30))
        warmup = ratio + (1 - ratio) * t / warm if t < warm else 1.0
        assert lr == pytest.approx(main * warmup, rel=1e-9)
    assert values[0] == pytest.approx(BASE * ratio)


def test_step_schedule():
    values = _run(30, name="step", step_size=7, gamma=0.5)
    assert values == pytest.approx([BASE * 0.5 ** (t // 7) for t in range(30)])


def test_one_cycle_matches_closed_form():
    total, pct, div, final_div = 100, 0.3, 25.0, 1e4
    values = _run(total, name="1cycle", pct_start=pct, div_factor=div, final_div_factor=final_div)
    start, low = BASE / div, BASE / div / final_div
    up_end, down_end = pct * total - 1, total - 1

    def cos_anneal(a, b, frac):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * frac))

    for t, lr in enumerate(values):
        if t <= up_end:
            expected = cos_anneal(start, BASE, t / up_end)
        else:
            expected = cos_anneal(BASE, low, (t - up_end) / (down_end - up_end))
        assert lr == pytest.approx(expected, rel=1e-6)
    assert max(values) == pytest.approx(BASE, rel=1e-3)


def test_one_cycle_cycles_momentum_inversely():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    sched = build_scheduler(opt, name="1cycle", total_steps=20)
    moms = []
    for _ in range(20):
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert moms[0] == pytest.approx(0.95) and min(moms) == pytest.approx(0.85, abs=1e-3)


def test_group_ratios_are_kept():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}], lr=0.1)
    sched = build_scheduler(opt, name="cosine", total_steps=10, warmup_steps=3)
    for _ in range(6):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(10 * opt.param_groups[1]["lr"])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"name": "poly"}, "scheduler must be one of"), ({"name": "step"}, "step_size"),
     ({"name": "1cycle", "warmup_steps": 5}, "warms up by itself"), ({"name": "cosine", "warmup_steps": 99}, "warmup")],
)  # fmt: skip
def test_bad_schedule_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _run(20, **kwargs)


def test_plot_schedule_writes_png(tmp_path):
    path = plot_schedule(tmp_path / "lr.png", total_steps=30, name="cosine", warmup_steps=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
