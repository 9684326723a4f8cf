import json

import pytest
import torch

from visdet.apis.simple_runner import (
    SimpleRunner,
    list_datasets,
    list_models,
    list_optimizers,
    list_schedules,
    show_preset,
)
from visdet.engine.components.schedulers import RunLength, build_param_schedulers
from visdet.testing.coco_synth import write_coco_synth
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def tiny_model_cfg():
    cfg = tiny_faster_rcnn_config(3, small_proposal_counts=True)
    return cfg


def test_preset_listing():
    assert "faster_rcnn_r50_fpn" in list_models()
    assert "coco_detection" in list_datasets()
    assert {"sgd", "adamw"} <= set(list_optimizers()) and {"1x", "1cycle"} <= set(list_schedules())
    assert "AdamW" in show_preset("adamw")


def test_presets_and_overrides_merge():
    overrides = {"optim_wrapper.optimizer.weight_decay": 0.01, "visdet": {"layer_decay": 0.8}}
    runner = SimpleRunner(optimizer="adamw", scheduler="1cycle", epochs=3, lr=1e-3, overrides=overrides)
    cfg = runner.config
    assert cfg["optim_wrapper"]["optimizer"] == {
        "type": "AdamW",
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "weight_decay": 0.01,
    }
    assert cfg["param_scheduler"][0]["type"] == "OneCycleLR" and cfg["param_scheduler"][0]["eta_max"] == 1e-3
    assert cfg["train_cfg"]["max_epochs"] == 3 and cfg["visdet"] == {"device": "cpu", "layer_decay": 0.8}
    assert cfg["model"]["type"] == "FasterRCNN"


def test_mmdet_1x_schedule_maps_onto_iterations():
    mmdet_1x = [
        {"type": "LinearLR", "start_factor": 0.001, "by_epoch": False, "begin": 0, "end": 500},
        {"type": "MultiStepLR", "by_epoch": True, "begin": 0, "end": 12, "milestones": [8, 11], "gamma": 0.1},
    ]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    schedulers = build_param_schedulers(mmdet_1x, optimizer=optimizer,
                                        run=RunLength(epoch_length=100, max_epochs=12, max_iters=1200))  # fmt: skip
    lrs = []
    for _epoch in range(12):
        for _ in range(100):
            lrs.append(optimizer.param_groups[0]["lr"])
            schedulers.after_iter()
        schedulers.after_epoch()
    # hand-derived: warm-up factor 0.001 + 0.999 * t / 499 over iterations 0..499, x0.1 at epochs 8 and 11
    assert lrs[0] == pytest.approx(0.02 * 0.001) and lrs[250] == pytest.approx(0.02 * (0.001 + 0.999 * 250 / 499))
    assert lrs[499] == pytest.approx(0.02) and lrs[799] == pytest.approx(0.02)
    assert lrs[800] == pytest.approx(0.002) and lrs[1100] == pytest.approx(0.0002)
    with pytest.raises(ValueError, match="PolyLR"):
        build_param_schedulers([{"type": "PolyLR"}], optimizer=optimizer,
                               run=RunLength(epoch_length=10, max_epochs=1, max_iters=10))  # fmt: skip


def test_train_val_predict_on_local_coco(tmp_path):
    synth = write_coco_synth(tmp_path / "coco")
    dataset = {"train_ann": str(synth.ann_file), "train_images": str(synth.img_dir),
               "val_ann": str(synth.ann_file), "val_images": str(synth.img_dir)}  # fmt: skip
    runner = SimpleRunner(model=tiny_model_cfg(), dataset=dataset, epochs=2, batch_size=2, num_workers=0, lr=0.01,
                          image_scale=(64, 48), seed=0, work_dir=tmp_path / "work",
                          overrides={"visdet.progress": False, "default_hooks.logger.interval": 1})  # fmt: skip
    assert runner.config["model"]["roi_head"]["bbox_head"]["num_classes"] == 3  # follows the file's categories
    sweep = runner.find_lr(start_lr=1e-5, end_lr=1.0, num_iters=3, min_steps=0)
    assert len(sweep.lrs) >= 1 and runner.runner.iter == 0
    runner.train()
    # mmdet's filter keeps the 2 annotated images of at least 32 px: one batch per epoch
    assert runner.runner.epoch == 2 and runner.runner.iter == 2
    log = [json.loads(line) for line in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    train_lines = [x for x in log if x["mode"] == "train"]
    val_lines = [x for x in log if x["mode"] == "val"]
    assert len(train_lines) == 2 and all(torch.isfinite(torch.tensor(x["loss"])) for x in train_lines)
    assert len(val_lines) == 2 and "coco/bbox_mAP" in val_lines[0]
    assert (tmp_path / "work" / "latest.pth").is_file() and (tmp_path / "work" / "epoch_2.pth").is_file()
    metrics = runner.val()
    assert 0.0 <= metrics["coco/bbox_mAP"] <= 1.0
    found = runner.predict(str(synth.img_dir / "a.png"))
    assert found.bboxes.shape[1] == 4 and len(found.scores) == len(found.labels)
    # resume=True in the same work_dir continues after epoch 2: nothing left to do
    again = SimpleRunner(model=tiny_model_cfg(), dataset=dataset, epochs=2, batch_size=2, num_workers=0,
                         image_scale=(64, 48), work_dir=tmp_path / "work",
                         overrides={"visdet.progress": False, "resume": True})  # fmt: skip
    again.train()
    assert again.runner.iter == 2
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
