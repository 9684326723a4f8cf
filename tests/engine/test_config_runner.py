import math

import pytest
import torch

from visdet.apis.simple_runner import SimpleRunner
from visdet.config import ConfigError
from visdet.engine.config_runner import build_runner
from visdet.engine.hooks import EMAHook, Hook, PipelineSwitchHook
from visdet.engine.progressive_resize import ProgressiveResizeHook
from visdet.testing.coco_synth import write_coco_synth
from visdet.testing.tiny_models import faster_rcnn_config


def _config(tmp_path, **overrides):
    model = faster_rcnn_config(3)
    model["backbone"].update(depth=18, base_channels=4)
    model["neck"].update(in_channels=[4, 8, 16, 32], out_channels=8)
    model["rpn_head"].update(in_channels=8, feat_channels=8)
    model["roi_head"]["bbox_roi_extractor"]["out_channels"] = 8
    model["roi_head"]["bbox_head"].update(in_channels=8, fc_out_channels=16)
    synth = write_coco_synth(tmp_path / "coco")
    dataset = {"train_ann": str(synth.ann_file), "train_images": str(synth.img_dir)}
    return SimpleRunner(model=model, dataset=dataset, optimizer="adamw", scheduler="1cycle", epochs=4, batch_size=1,
                        num_workers=0, lr=2e-3, work_dir=tmp_path / "w", overrides=overrides).config  # fmt: skip


def test_optim_wrapper_and_visdet_options_reach_the_runner(tmp_path):
    cfg = _config(tmp_path, **{"optim_wrapper.type": "AmpOptimWrapper", "optim_wrapper.dtype": "bfloat16",
                               "optim_wrapper.accumulative_counts": 2, "visdet.layer_decay": 0.5,
                               "visdet.progressive_resize": [[0, 32], [4, 64]],
                               "train_dataloader.dataset.filter_cfg": None})  # fmt: skip
    runner = build_runner(cfg)
    assert runner.precision == "bf16" and runner.scaler is None
    assert runner.accumulate_steps == 2 and runner.grad_clip == 0.1  # the adamw preset clips at 0.1
    assert isinstance(runner.optimizer, torch.optim.AdamW)
    (cycle,) = runner.scheduler.per_optimizer_step  # OneCycleLR: torch's, alone, per optimizer step
    assert isinstance(cycle, torch.optim.lr_scheduler.OneCycleLR) and runner.scheduler.schedulers == []
    assert runner.max_iters == 4 * 4  # 4 images (no filter), batch 1, 4 epochs
    assert cycle.total_steps == 8  # optimizer steps: batches / accumulation
    peaks = sorted({round(g["max_lr"], 12) for g in runner.optimizer.param_groups})
    assert peaks == pytest.approx([2e-3 * 0.5**k for k in range(4, -1, -1)])  # layer-wise decay of the peak
    assert any(isinstance(h, ProgressiveResizeHook) for h in runner.hooks)


def test_unsupported_sections_are_named(tmp_path):
    cfg = _config(tmp_path, **{"param_scheduler": [{"type": "PolyLR", "by_epoch": False}]})
    with pytest.raises(ConfigError, match=r"param_scheduler\[0\].type: unknown type 'PolyLR'"):
        build_runner(cfg)
    cfg = _config(tmp_path, **{"optim_wrapper.paramwise_cfg": {"dcn_offset_lr_mult": 0.1}})
    with pytest.raises(ConfigError, match="optim_wrapper.paramwise_cfg.dcn_offset_lr_mult: unknown key"):
        build_runner(cfg)


def test_auto_scale_lr_scales_by_the_total_batch_size(tmp_path):
    cfg = _config(tmp_path, **{"auto_scale_lr": {"enable": True, "base_batch_size": 4}, "param_scheduler": []})
    runner = build_runner(cfg)
    assert runner.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3 * 1 / 4)  # batch 1, one process
    assert build_runner(_config(tmp_path, param_scheduler=[])).optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)


def test_training_needs_its_sections(tmp_path):
    cfg = _config(tmp_path)
    del cfg["optim_wrapper"]
    with pytest.raises(ConfigError, match="training needs the section"):
        build_runner(cfg)


def test_a_given_model_replaces_the_model_section(tmp_path):
    cfg = _config(tmp_path)
    model = build_runner(cfg).model
    del cfg["model"]
    assert build_runner(cfg, model=model).model is model


def test_rtmdet_recipe_from_the_config_trains_with_ema_switch_and_chained_schedule(tmp_path):
    schedule = [
        {"type": "LinearLR", "start_factor": 1.0e-5, "by_epoch": False, "begin": 0, "end": 3},
        {"type": "CosineAnnealingLR", "eta_min": 1e-4, "begin": 2, "end": 4, "T_max": 2, "by_epoch": True,
         "convert_to_iter_based": True},
    ]  # fmt: skip
    stage2 = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations", "with_bbox": True},
              {"type": "Resize", "scale": [40, 32], "keep_ratio": True}, {"type": "PackDetInputs"}]  # fmt: skip
    cfg = _config(tmp_path, **{
        "param_scheduler": schedule,
        "optim_wrapper.paramwise_cfg": {"norm_decay_mult": 0, "bias_decay_mult": 0, "bypass_duplicate": True},
        "custom_hooks": [{"type": "EMAHook", "ema_type": "ExpMomentumEMA", "momentum": 0.0002, "update_buffers": True,
                          "priority": 49},
                         {"type": "PipelineSwitchHook", "switch_epoch": 3, "switch_pipeline": stage2}],
        "train_dataloader.dataset.filter_cfg": None, "visdet.progress": False,
    })  # fmt: skip
    runner = build_runner(cfg)
    lrs = []

    class Lr(Hook):
        def before_train_iter(self, r):
            lrs.append(r.optimizer.param_groups[0]["lr"])

    runner.hooks.append(Lr())
    runner.train()
    assert runner.epoch == 4 and len(lrs) == 16
    ema, switch = (next(h for h in runner.hooks if isinstance(h, kind)) for kind in (EMAHook, PipelineSwitchHook))
    assert switch.switched and runner.loop.loader.dataset.pipeline is switch.switch_pipeline
    base = lrs[3]  # the warm-up ends after 3 iterations; the cosine starts at iteration 8 (epoch 2)
    assert lrs[0] == pytest.approx(base * 1e-5) and lrs[3:9] == [base] * 6
    assert lrs[9] < base and lrs[15] > 1e-4  # hand-derived: cosine over 8 iterations from iteration 8
    assert lrs[9] == pytest.approx(1e-4 + (base - 1e-4) * (1 + math.cos(math.pi / 8)) / 2)
    ckpt = torch.load(runner.work_dir / "latest.pth", weights_only=True)
    assert int(ckpt["ema_state_dict"]["steps"]) == 16
    for key, value in runner.model.state_dict().items():  # the training weights under ema_state_dict
        torch.testing.assert_close(ckpt["ema_state_dict"][f"module.{key}"], value)
    for key, value in ema.ema_model.module.state_dict().items():  # the average as the state_dict
        torch.testing.assert_close(ckpt["state_dict"][key], value)
