"""Evidence that training works: a small Faster R-CNN learns a synthetic shapes set.

Slow (minutes on CPU): runs only with VISDET_SLOW=1.
"""

import json
import os
from pathlib import Path

import pytest

from visdet.apis.simple_runner import SimpleRunner
from visdet.testing import shapes_synth
from visdet.testing.tiny_models import faster_rcnn_config

SLOW = os.environ.get("VISDET_SLOW") == "1"
CLASSES = shapes_synth.CLASSES
SIZE = 96


def write_shapes(root: Path, *, num_images: int, seed: int) -> tuple[Path, Path]:
    """The shapes set at this file's size (``visdet.testing.shapes_synth``)."""
    return shapes_synth.write_shapes(root, num_images=num_images, seed=seed, size=SIZE, box_range=(18, 44))


def small_faster_rcnn():
    cfg = faster_rcnn_config(len(CLASSES))
    cfg["backbone"].update(depth=18, base_channels=16, frozen_stages=-1, norm_eval=False)
    cfg["neck"].update(in_channels=[16, 32, 64, 128], out_channels=32)
    cfg["rpn_head"].update(in_channels=32, feat_channels=32)
    cfg["rpn_head"]["anchor_generator"]["scales"] = [6]
    cfg["roi_head"]["bbox_roi_extractor"]["out_channels"] = 32
    cfg["roi_head"]["bbox_head"].update(in_channels=32, fc_out_channels=128)
    cfg["train_cfg"]["rpn"]["sampler"]["num"] = 64
    cfg["train_cfg"]["rpn_proposal"].update(nms_pre=300, max_per_img=100)
    cfg["train_cfg"]["rcnn"]["sampler"]["num"] = 64
    cfg["test_cfg"]["rpn"].update(nms_pre=300, max_per_img=100)
    return cfg


@pytest.mark.skipif(not SLOW, reason="slow training run; set VISDET_SLOW=1")
def test_small_faster_rcnn_learns_shapes(tmp_path):
    iters = int(os.environ.get("VISDET_SLOW_ITERS", "400"))
    train_ann, train_img = write_shapes(tmp_path / "train", num_images=160, seed=0)
    val_ann, val_img = write_shapes(tmp_path / "val", num_images=40, seed=1)
    dataset = {"train_ann": str(train_ann), "train_images": str(train_img),
               "val_ann": str(val_ann), "val_images": str(val_img)}  # fmt: skip
    runner = SimpleRunner(model=small_faster_rcnn(), dataset=dataset, optimizer="sgd", scheduler="1x", iters=iters,
                          batch_size=4, num_workers=0, lr=0.02, image_scale=(SIZE, SIZE), seed=0,
                          work_dir=tmp_path / "work",
                          overrides={"visdet.progress": False, "default_hooks.logger.interval": 20,
                                     "param_scheduler": [
                                         {"type": "LinearLR", "start_factor": 0.01, "by_epoch": False, "end": 50},
                                         {"type": "CosineAnnealingLR", "by_epoch": False, "eta_min_ratio": 0.01}],
                                     "optim_wrapper.clip_grad": {"max_norm": 10.0},
                                     "train_dataloader.dataset.filter_cfg": None})  # fmt: skip
    runner.train()
    log = [json.loads(x) for x in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    curve = [(x["iter"], round(x["loss"], 3)) for x in log if x["mode"] == "train"]
    metrics = runner.val()
    report = os.environ.get("VISDET_SLOW_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"loss_curve": curve, "metrics": metrics}, f, indent=1)
    print("loss curve:", curve)
    print("val metrics:", metrics)
    # seen at 400 iterations (2026-11, CPU): loss 1.37 -> 0.60, bbox mAP 0.648, mAP_50 0.952
    assert curve[-1][1] < 0.8 * curve[0][1]
    # random boxes score ~0 mAP on this set; a trained detector is far above that
    assert metrics["coco/bbox_mAP_50"] > 0.3 and metrics["coco/bbox_mAP"] > 0.1
