# Ported from mmdet tests/test_engine/test_hooks/test_pipeline_switch_hook.py (mmdet 3.3.0), rewritten
# for visdet: the runner stand-in has visdet's shape (runner.loop.loader.dataset). mmdet's checks of
# `_DataLoader__initialized` (its forced restart of persistent workers) have no counterpart: visdet's
# training loop starts a fresh loader from the dataset every epoch, so the checks here are that the
# pipeline is replaced once, at or after the switch epoch, whether workers persist or not.
from types import SimpleNamespace

from visdet.build import build_pipeline
from visdet.data.transforms.compose import Compose
from visdet.engine.hooks import PipelineSwitchHook

STAGE2 = [{"type": "RandomResize", "scale": (1280, 1280)}]


def _runner(epoch, persistent_workers):
    dataset = SimpleNamespace(pipeline=Compose([]))
    loader = SimpleNamespace(dataset=dataset, persistent_workers=persistent_workers)
    return SimpleNamespace(epoch=epoch, loop=SimpleNamespace(loader=loader))


def _switches_once_at_the_switch_epoch(persistent_workers):
    runner = _runner(284, persistent_workers)
    hook = PipelineSwitchHook(switch_epoch=285, switch_pipeline=build_pipeline(STAGE2))
    hook.before_train_epoch(runner)
    assert not hook.switched and runner.loop.loader.dataset.pipeline.transforms == []
    runner.epoch = 285
    hook.before_train_epoch(runner)
    stage2 = runner.loop.loader.dataset.pipeline
    assert hook.switched and len(stage2.transforms) == 1
    runner.epoch = 286
    hook.before_train_epoch(runner)
    assert runner.loop.loader.dataset.pipeline is stage2 and len(stage2.transforms) == 1


def test_persistent_workers_on():
    _switches_once_at_the_switch_epoch(True)


def test_persistent_workers_off():
    _switches_once_at_the_switch_epoch(False)


def test_initialize_after_switching():
    runner = _runner(286, True)  # a run resumed after the switch epoch
    hook = PipelineSwitchHook(switch_epoch=285, switch_pipeline=build_pipeline(STAGE2))
    hook.before_train_epoch(runner)
    assert hook.switched and len(runner.loop.loader.dataset.pipeline.transforms) == 1
