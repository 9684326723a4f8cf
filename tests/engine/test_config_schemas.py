"""The engine reads its sections through the schemas: what they accept, reject, and build."""

from __future__ import annotations

import pytest
import torch

from visdet.config import ConfigError
from visdet.engine.components import validate_config
from visdet.engine.components.optimizers import ParamwiseSettings
from visdet.engine.components.schedulers import RunLength, build_param_schedulers
from visdet.engine.config_runner import _hooks
from visdet.engine.hooks import CheckpointHook, EarlyStoppingHook, EvalHook, LoggerHook
from visdet.engine.progressive_resize import ProgressiveResizeHook

SGD = {"type": "OptimWrapper", "optimizer": {"type": "SGD", "lr": 0.1}}


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    return str(err.value)


def test_what_the_engine_cannot_do_is_rejected_with_its_path():
    assert "param_scheduler[0]: end (100) must be larger than begin (150)" in _error(
        {"param_scheduler": [{"type": "MultiStepLR", "milestones": [2], "begin": 150, "end": 100}]}
    )
    assert "convert_to_iter_based needs by_epoch: true" in _error(
        {"param_scheduler": [{"type": "CosineAnnealingLR", "by_epoch": False, "convert_to_iter_based": True}]}
    )
    assert "gamma: only ExpMomentumEMA takes a gamma" in _error({"custom_hooks": [{"type": "EMAHook", "gamma": 5}]})
    assert "optim_wrapper: dtype: only AmpOptimWrapper takes a dtype" in _error(
        {"optim_wrapper": {**SGD, "dtype": "bf16"}}
    )
    assert "optim_wrapper.clip_grad.norm_type: 1 is not one of 2" in _error(
        {"optim_wrapper": {**SGD, "clip_grad": {"max_norm": 1.0, "norm_type": 1}}}
    )
    assert "default_hooks.visualization.draw:" in _error(
        {"default_hooks": {"visualization": {"type": "DetVisualizationHook", "draw": True}}}
    )
    assert "randomness.diff_rank_seed:" in _error({"randomness": {"diff_rank_seed": True}})
    assert "visdet.layer_decay:" in _error({"visdet": {"layer_decay": 2.0}})


def test_what_the_engine_supports_is_accepted():
    config = validate_config({
        "optim_wrapper": {"type": "AmpOptimWrapper", "dtype": "bfloat16", "optimizer": {"type": "SGD", "lr": 0.1,
                                                                                       "nesterov": True,
                                                                                       "momentum": 0.9}},
        "param_scheduler": [{"type": "LinearLR", "end": 10, "by_epoch": False}, {"type": "StepLR", "step_size": 3}],
        "visdet": {"device": "cpu", "precision": "fp16", "loggers": []},
    })  # fmt: skip
    assert config.optim_wrapper.precision() == "bf16" and config.visdet.precision == "fp16"
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    built = build_param_schedulers(config.param_scheduler, optimizer=optimizer,
                                   run=RunLength(epoch_length=10, max_epochs=10, max_iters=100))  # fmt: skip
    warmup, step = built.schedulers
    assert (warmup.begin, warmup.end, warmup.by_epoch, warmup.start_factor) == (0, 10, False, 1 / 3)
    assert (step.begin, step.end, step.by_epoch, step.step_size) == (0, 10, True, 3)  # end: the run's epochs


def test_optimizer_options_reach_torch():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    sgd = validate_config({"optim_wrapper": {**SGD, "optimizer": {**SGD["optimizer"], "momentum": 0.9,
                                                                  "nesterov": True, "dampening": 0.0}}})  # fmt: skip
    optimizer = sgd.optim_wrapper.build(model=model)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"] is True
    adamw = validate_config({"optim_wrapper": {"type": "OptimWrapper", "optimizer": {
        "type": "AdamW", "lr": 0.001, "eps": 1e-6, "amsgrad": True},
        "paramwise_cfg": {"norm_decay_mult": 0.0}}})  # fmt: skip
    optimizer = adamw.optim_wrapper.build(model=model)
    assert optimizer.defaults["eps"] == 1e-6 and optimizer.defaults["amsgrad"] is True
    assert optimizer.defaults["weight_decay"] == 0.01  # torch's AdamW default, as mmengine builds it
    assert sorted(group["weight_decay"] for group in optimizer.param_groups) == [0.0, 0.01]
    assert adamw.optim_wrapper.paramwise_cfg == ParamwiseSettings(norm_decay_mult=0.0)


def test_one_cycle_must_be_alone_and_span_the_run():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    run = RunLength(epoch_length=10, max_epochs=12, max_iters=120)
    cycle = {"type": "OneCycleLR", "eta_max": 0.1, "total_steps": 50}
    with pytest.raises(ConfigError, match=r"param_scheduler\[0\] \(OneCycleLR\): total_steps=50 is not the run's 120"):
        build_param_schedulers([cycle], optimizer=optimizer, run=run)
    with pytest.raises(ConfigError, match=r"param_scheduler\[1\]: OneCycleLR .* must be the only schedule"):
        build_param_schedulers([{"type": "LinearLR"}, {**cycle, "total_steps": None}], optimizer=optimizer, run=run)


def test_default_hooks_merge_into_mmdets_default_runtime_and_keep_their_order():
    config = validate_config({
        "default_hooks": {"logger": {"interval": 3}, "timer": None, "checkpoint": {"save_best": "coco/bbox_mAP"}},
        "custom_hooks": [{"type": "ProgressiveResizeHook", "stages": [[0, 32]]}],
        "visdet": {"early_stopping": {"monitor": "coco/bbox_mAP", "patience": 2}, "progress": False},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 3, "val_begin": 2, "val_interval": 1},
    })  # fmt: skip
    assert config.default_hooks["timer"] is None and config.default_hooks["logger"].type == "LoggerHook"
    plan = config.train_cfg.build()
    hooks = _hooks(config, by_epoch=True, validation=True, plan=plan)
    kinds = [type(hook) for hook in hooks]
    assert kinds == [LoggerHook, EvalHook, CheckpointHook, EarlyStoppingHook, ProgressiveResizeHook]
    assert hooks[0].interval == 3 and hooks[0].progress is False
    assert hooks[1].begin == 2 and hooks[2].save_best == "coco/bbox_mAP" and hooks[2].keep_last == 2
    assert hooks[3].patience == 2 and hooks[3].min_delta == 0.0  # visdet's defaults
    no_checkpoints = validate_config({"default_hooks": {"checkpoint": None}})
    assert CheckpointHook not in [type(h) for h in _hooks(no_checkpoints, by_epoch=True, validation=False, plan=plan)]


def test_eval_hook_waits_for_val_begin():
    class Runner:
        epoch, iter, at_step_boundary = 0, 0, True
        validated: list[int] = []

        def val(self):
            self.validated.append(self.epoch)

    hook, runner = EvalHook(interval=1, by_epoch=True, begin=3), Runner()
    for epoch in range(1, 5):
        runner.epoch = epoch
        hook.after_train_epoch(runner)
    assert runner.validated == [3, 4]
