import json
from pathlib import Path

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from visdet import inference_detector, init_detector
from visdet.cli import main

TINY_MASK_RCNN = Path(__file__).parents[1] / "apis" / "tiny_mask_rcnn.yaml"


def test_mask_rcnn_inference_gives_masks_at_the_original_size(tmp_path):
    image = np.random.RandomState(0).randint(0, 255, (120, 160, 3), dtype=np.uint8)
    torch.manual_seed(0)
    model = init_detector(str(TINY_MASK_RCNN))
    result = inference_detector(model, image)
    assert len(result) > 0
    assert result.masks.shape == (len(result), 120, 160) and result.masks.dtype == torch.bool


def test_predict_writes_masks_as_rle_and_draws_them(tmp_path, capsys):
    image = np.random.RandomState(1).randint(0, 255, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    torch.manual_seed(0)
    model = init_detector(str(TINY_MASK_RCNN), fuse=False)  # random weights to save
    checkpoint = tmp_path / "tiny_mask.pth"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    out = tmp_path / "out"
    code = main(["predict", str(path), "--config", str(TINY_MASK_RCNN), "--checkpoint", str(checkpoint),
                 "--out", str(out), "--score-thr", "0.0"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "scene.json").read_text())
    expected = inference_detector(init_detector(str(TINY_MASK_RCNN), str(checkpoint)), str(path))
    assert len(record["detections"]) == len(expected) > 0
    for detection, mask in zip(record["detections"], expected.masks):
        rle = {"size": detection["segmentation"]["size"], "counts": detection["segmentation"]["counts"].encode()}
        assert np.array_equal(mask_utils.decode(rle).astype(bool), mask.numpy())
    drawn = cv2.imread(str(out / "scene.png"))
    union = expected.masks.any(0).numpy()
    if union.any():  # masked pixels are tinted
        assert not np.array_equal(drawn[union], image[union])
