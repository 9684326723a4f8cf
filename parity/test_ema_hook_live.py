"""visdet's EMAHook against mmengine's, event by event (reference environment only).

The two hooks see twin models (float64, same weights) that move the same way each
iteration; after every event the models, the averaged models and the checkpoint dicts
must be equal: updates (with ``begin_iter``), the validation swap and swap back,
``before_save_checkpoint`` (the ``state_dict`` / ``ema_state_dict`` layout, written while
swapped too) and ``after_load_checkpoint`` on resume.

Marker ``live``: runs only where mmdet/mmengine/mmcv import (``.venv-ref``).
"""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from parity.reference import reference_missing
from visdet.engine.ema import ExpMomentumEMA
from visdet.engine.hooks import EMAHook

pytestmark = pytest.mark.live


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(3, 2)).double()


def _assert_same(ours: dict, theirs: dict, what: str) -> None:
    assert list(ours) == list(theirs), what
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), f"{what}: {key}"


def _checkpoint(model: nn.Module) -> dict:
    return {"state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}, "meta": {}}


@pytest.mark.parametrize("update_buffers", [True, False])
def test_ema_hook_events_equal_mmengines(update_buffers: bool) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.utils import register_all_modules
    from mmengine.hooks import EMAHook as ReferenceHook

    register_all_modules()
    kwargs = {"momentum": 0.1, "gamma": 3, "update_buffers": update_buffers}
    theirs_model, ours_model = _model(), _model()
    theirs = ReferenceHook(ema_type="ExpMomentumEMA", begin_iter=2, **kwargs)
    ours = EMAHook(averaged_model=functools.partial(ExpMomentumEMA, **kwargs), begin_iter=2)
    theirs_runner = SimpleNamespace(model=theirs_model, iter=0, epoch=0, max_iters=10, _resume=True)
    ours_runner = SimpleNamespace(model=ours_model, iter=0, epoch=0, max_iters=10)
    theirs.before_run(theirs_runner)
    ours._ensure(ours_runner)
    generator = torch.Generator().manual_seed(1)
    for i in range(6):
        with torch.no_grad():
            for key, value in theirs_model.state_dict().items():
                if value.is_floating_point():
                    step = torch.randn(value.shape, generator=generator, dtype=torch.float64)
                    value.add_(step)
                    ours_model.state_dict()[key].add_(step)
        theirs_runner.iter, ours_runner.iter = i, i + 1  # mmengine counts the batch after the hooks, visdet before
        theirs.after_train_iter(theirs_runner, batch_idx=i)
        ours.after_train_iter(ours_runner)
        _assert_same(ours.ema_model.state_dict(), theirs.ema_model.state_dict(), f"averaged model after iter {i}")

    theirs.before_val_epoch(theirs_runner)
    ours.before_val(ours_runner)
    _assert_same(ours_model.state_dict(), theirs_model.state_dict(), "model during validation")
    # a checkpoint written during validation (visdet: best.pth) has the same layout as one written outside it
    during = _checkpoint(ours_model)
    ours.before_save_checkpoint(ours_runner, during)
    during = copy.deepcopy(during)  # written to disk at once (its tensors are the live ones)
    theirs.after_val_epoch(theirs_runner)
    ours.after_val(ours_runner, {})
    _assert_same(ours_model.state_dict(), theirs_model.state_dict(), "model after validation")

    theirs_ckpt, ours_ckpt = _checkpoint(theirs_model), _checkpoint(ours_model)
    theirs.before_save_checkpoint(theirs_runner, theirs_ckpt)
    ours.before_save_checkpoint(ours_runner, ours_ckpt)
    for ckpt in (ours_ckpt, during):
        _assert_same(ckpt["state_dict"], theirs_ckpt["state_dict"], "checkpoint state_dict")
        _assert_same(ckpt["ema_state_dict"], theirs_ckpt["ema_state_dict"], "checkpoint ema_state_dict")

    theirs_resumed, ours_resumed = _model(), _model()
    theirs_hook = ReferenceHook(ema_type="ExpMomentumEMA", begin_iter=2, **kwargs)
    ours_hook = EMAHook(averaged_model=functools.partial(ExpMomentumEMA, **kwargs), begin_iter=2)
    theirs_hook.before_run(SimpleNamespace(model=theirs_resumed))
    theirs_loaded, ours_loaded = copy.deepcopy(theirs_ckpt), copy.deepcopy(theirs_ckpt)
    theirs_hook.after_load_checkpoint(SimpleNamespace(_resume=True), theirs_loaded)
    ours_hook.after_load_checkpoint(SimpleNamespace(model=ours_resumed), ours_loaded)
    _assert_same(ours_loaded["state_dict"], theirs_loaded["state_dict"], "resumed state_dict")
    _assert_same(ours_hook.ema_model.state_dict(), theirs_hook.ema_model.state_dict(), "resumed averaged model")
