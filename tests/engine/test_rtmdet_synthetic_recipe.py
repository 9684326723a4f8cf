"""The RTMDet synthetic training run's config (``scripts/train_rtmdet_synthetic.py``) for a few iterations.

The full run (about 20 minutes) is the script itself; this checks, in seconds, that the
same config builds and that its recipe really acts: mosaic and mixup in stage 1, the
switch to the stage-2 pipeline, validation on the EMA weights, no weight decay on norms
and biases, the LinearLR warm-up.
"""

import json

import pytest
import torch

from scripts.train_rtmdet_synthetic import build, make_report, recipe, write_data, write_report
from visdet.data.transforms import CachedMixUp, CachedMosaic
from visdet.engine.ema import ExpMomentumEMA
from visdet.engine.hooks import EMAHook, Hook, PipelineSwitchHook


class Spy(Hook):
    """What each training batch went through and what validation saw."""

    def __init__(self):
        self.pipelines = []  # (epoch, transform type names) per batch
        self.val_weights = []  # (model's weights during validation, the training weights held aside)
        self.after_val_weights = []

    def before_train_iter(self, runner):
        pipeline = runner.loop.loader.dataset.pipeline
        self.pipelines.append((runner.epoch, [type(t).__name__ for t in pipeline.transforms], pipeline))

    def before_val(self, runner):
        ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
        self.val_weights.append(({k: v.clone() for k, v in runner.model.state_dict().items()},
                                 {k: v.clone() for k, v in ema.ema_model.module.state_dict().items()}))  # fmt: skip

    def after_val(self, runner, metrics):
        self.after_val_weights.append({k: v.clone() for k, v in runner.model.state_dict().items()})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rtmdet_synth")
    data = write_data(tmp / "shapes", train_images=16, val_images=4)
    cfg = recipe(data, tmp / "work", epochs=2, stage2_epochs=1)  # 2 batches of 8 per epoch; stage 2 from epoch 1
    runner, curve = build(cfg)
    spy = Spy()
    runner.hooks.append(spy)
    torch.set_num_threads(1)
    runner.train()
    return cfg, runner, curve, spy


def test_the_recipe_is_rtmdets_scaled_down(trained):
    cfg, runner, _, _ = trained
    switch = next(h for h in cfg["custom_hooks"] if h["type"] == "PipelineSwitchHook")
    assert switch["switch_epoch"] == 1 and cfg["train_cfg"]["max_epochs"] == 2
    cosine = next(s for s in cfg["param_scheduler"] if s["type"] == "CosineAnnealingLR")
    assert (cosine["begin"], cosine["end"], cosine["T_max"], cosine["convert_to_iter_based"]) == (1, 2, 1, True)
    ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
    assert isinstance(ema.ema_model, ExpMomentumEMA)
    assert ema.ema_model.momentum == 0.02 and ema.ema_model.gamma == 20  # the file's values
    assert runner.model.bbox_head.num_classes == 2
    assert isinstance(runner.optimizer, torch.optim.AdamW)
    names = {id(p): n for n, p in runner.model.named_parameters()}
    decays = {names[id(p)]: (group["weight_decay"], p.ndim) for group in runner.optimizer.param_groups
              for p in group["params"]}  # fmt: skip
    grouped = [id(p) for group in runner.optimizer.param_groups for p in group["params"]]
    assert len(grouped) == len(set(grouped)) == len(names)  # each parameter once (shared head convs: bypass_duplicate)
    # norm_decay_mult=0, bias_decay_mult=0: in this model the 1-D parameters are exactly the norms' weights and
    # biases and the convs' biases
    assert any(name.endswith(".bn.weight") for name in decays) and any(name.endswith(".bias") for name in decays)
    for name, (decay, ndim) in decays.items():
        assert decay == (0.0 if ndim == 1 else 0.05), name


def test_stage1_mosaic_and_mixup_then_the_stage2_pipeline(trained):
    _, runner, curve, spy = trained
    switch = next(h for h in runner.hooks if isinstance(h, PipelineSwitchHook))
    stage1 = [names for epoch, names, _ in spy.pipelines if epoch == 0]
    stage2 = [(names, pipeline) for epoch, names, pipeline in spy.pipelines if epoch == 1]
    assert len(stage1) == 2 and len(stage2) == 2
    assert stage1[0] == ["LoadImageFromFile", "LoadAnnotations", "CachedMosaic", "RandomResize", "RandomCrop",
                         "YOLOXHSVRandomAug", "RandomFlip", "Pad", "CachedMixUp", "PackDetInputs"]  # fmt: skip
    assert stage2[0][0] == ["LoadImageFromFile", "LoadAnnotations", "RandomResize", "RandomCrop",
                            "YOLOXHSVRandomAug", "RandomFlip", "Pad", "PackDetInputs"]  # fmt: skip
    assert stage2[0][1] is switch.switch_pipeline and switch.switched
    # the stage-1 caches hold what went through: every one of the 16 training images (mosaic keeps up to 20;
    # more than 16 when RandomCrop dropped a sample and the dataset drew another, as mmdet's), mixup's full at 10
    first = spy.pipelines[0][2].transforms
    mosaic = next(t for t in first if isinstance(t, CachedMosaic))
    mixup = next(t for t in first if isinstance(t, CachedMixUp))
    assert 16 <= len(mosaic.results_cache) <= 20 and len(mixup.results_cache) == 10
    assert [row["stage"] for row in curve.rows] == [1, 2]


def test_validation_runs_on_the_ema_weights_and_swaps_back(trained):
    _, runner, curve, spy = trained
    assert len(spy.val_weights) == 2 and all(row["validated_with_ema"] for row in curve.rows)
    params = {name for name, _ in runner.model.named_parameters()}
    for (during, held), after in zip(spy.val_weights, spy.after_val_weights, strict=True):
        keys = [k for k, v in during.items() if v.is_floating_point()]
        # the average is not the model: weights (tiny warm-up steps, so small gaps) and BN statistics
        # (update_buffers=True: averaged too)
        assert max(float((during[k] - held[k]).abs().max()) for k in keys if k in params) > 0
        assert max(float((during[k] - held[k]).abs().max()) for k in keys if k.endswith("running_var")) > 1e-4
        for key in keys:  # after validation the training weights are back
            torch.testing.assert_close(after[key], held[key], rtol=0, atol=0)
    ema = next(h for h in runner.hooks if isinstance(h, EMAHook))
    final = spy.val_weights[-1][0]
    for key, value in ema.ema_model.module.state_dict().items():  # what was validated is the average
        torch.testing.assert_close(final[key], value, rtol=0, atol=0)
    assert all(row["ema_max_abs_diff"] > 0 for row in curve.rows)
    assert {"bbox_mAP", "bbox_mAP_50"} <= set(curve.rows[-1])


def test_warm_up_then_cosine_and_the_report(trained, tmp_path):
    cfg, runner, curve, _ = trained
    lrs = curve.lrs
    assert len(lrs) == 4 and runner.iter == 4
    # LinearLR with end 50 from 1e-5 (mmengine's: the factor reaches 1 at iteration end - 1 = 49, so at
    # iteration i it is 1e-5 + (1 - 1e-5) * i / 49); the exact chain with the cosine is golden-tested elsewhere
    base = 0.004
    for i in range(3):
        assert lrs[i] == pytest.approx(base * (1e-5 + (1 - 1e-5) * i / 49), rel=1e-6)
    # iteration 3 is the cosine's second of 2 (epoch 1), which pulls the lr below the warm-up's alone
    assert lrs[3] < base * (1e-5 + (1 - 1e-5) * 3 / 49) * 0.99
    zero = {"bbox_mAP": 0.0, "bbox_mAP_50": 0.0}
    report = make_report(cfg, runner, curve, command="c", threads=1, wall_s=1.0, untrained=zero, random_boxes=zero,
                         random_boxes_per_image=1)  # fmt: skip
    write_report(tmp_path / "curve", report)
    assert report["train_images"] == 16 and report["val_images"] == 4 and report["iters"] == 4
    table = (tmp_path / "curve.md").read_text()
    rows = [line.split(" | ")[:2] for line in table.splitlines() if line[:3] in ("| 1", "| 2")]
    assert rows == [["| 1", "1"], ["| 2", "2"]]  # epoch, stage
    assert json.loads((tmp_path / "curve.json").read_text())["epochs"][1]["stage"] == 2
