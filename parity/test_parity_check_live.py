"""``visdet parity check`` against mmdet itself: same, differs, and could not run.

A narrow Faster R-CNN config (mmdet's own, with smaller widths through ``_base_``) gets
a checkpoint written by mmdet; the check must say "same" (exit 0), must say "differs"
(exit 1, naming the image and the worst detection) once one visdet weight is altered,
and must stop at the components table (exit 2) for a config with a loss visdet does not
have. Marker ``live``: runs where mmdet is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from parity.reference import reference_missing

pytestmark = pytest.mark.live
BASE = Path(__file__).parents[1] / "tests/data/mmdet_configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
NARROW = """
_base_ = '{base}'
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16{rpn_extra}),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16), bbox_head=dict(in_channels=16, fc_out_channels=32)),
    test_cfg=dict(rcnn=dict(score_thr=0.001)))
"""


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """(config path, checkpoint path, image folder) of a narrow Faster R-CNN with mmdet's weights."""
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    import cv2
    from mmdet.apis import init_detector

    root = tmp_path_factory.mktemp("parity_check")
    config = root / "narrow_faster_rcnn.py"
    config.write_text(NARROW.format(base=BASE, rpn_extra=""))
    torch.manual_seed(0)
    model = init_detector(str(config), device="cpu")
    checkpoint = root / "narrow.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for name, (h, w) in {"a.jpg": (180, 260), "b.png": (240, 200)}.items():
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.rectangle(image, (20, 30), (w // 2, h // 2), (0, 200, 255), -1)
        cv2.imwrite(str(images / name), image)
    return config, checkpoint, images


def test_same_model_is_the_same(narrow, tmp_path, capsys):
    from visdet.cli import main

    config, checkpoint, images = narrow
    out = tmp_path / "report.md"
    assert main(["parity", "check", str(config), str(checkpoint), str(images), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "**Verdict: same**" in printed and "| `model.backbone` | ResNet | ✔ |" in printed
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["verdict"] == "same" and len(data["images"]) == 2
    for image in data["images"]:
        assert image["reference_count"] > 0 and image["matched"] == image["reference_count"] == image["visdet_count"]
        assert image["worst_box_px"] <= 0.01 and image["worst_score"] <= 1e-4


def test_altered_visdet_weight_differs(narrow, monkeypatch):
    from visdet.apis.parity_check import check_parity, runner

    original = runner._visdet_model

    def altered(config, state, device):
        model, missing, unexpected = original(config, state, device)
        with torch.no_grad():
            model.roi_head.bbox_head.fc_reg.bias.add_(0.05)  # a small shift of every regressed box
        return model, missing, unexpected

    monkeypatch.setattr(runner, "_visdet_model", altered)
    config, checkpoint, images = narrow
    report = check_parity(str(config), str(checkpoint), [images])
    assert report.code == 1 and report.verdict == "differs"
    assert any(reason.startswith("a.jpg: a box differs by") for reason in report.reasons), report.reasons
    assert max(image.worst_box_px for image in report.images) > 0.01


def test_unsupported_component_stops_at_the_table(narrow, tmp_path, capsys):
    from visdet.cli import main

    config, checkpoint, images = narrow
    ghm = tmp_path / "ghm.py"
    ghm.write_text(NARROW.format(base=BASE, rpn_extra=", loss_cls=dict(_delete_=True, type='GHMC', bins=30, "
                                 "momentum=0.75, use_sigmoid=True, loss_weight=1.0)"))  # fmt: skip
    assert main(["parity", "check", str(ghm), str(checkpoint), str(images)]) == 2
    printed = capsys.readouterr().out
    assert "**Verdict: could not run**" in printed
    assert "| `model.rpn_head.loss_cls` | GHMC | ✗ not supported yet |" in printed
    assert "## Predictions" not in printed


def test_losses_on_a_coco_file_are_the_same(narrow, tmp_path):
    from visdet.apis.parity_check import check_parity
    from visdet.testing.coco_synth import write_coco_synth

    config, checkpoint, _ = narrow
    synth = write_coco_synth(tmp_path / "coco")
    report = check_parity(str(config), str(checkpoint), [synth.img_dir], ann_file=str(synth.ann_file), loss_images=2)
    assert report.code == 0, report.reasons
    assert {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc"} <= set(report.losses)
    assert any(mmdet > 0 for mmdet, _ in report.losses.values())
