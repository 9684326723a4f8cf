from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

TINY_CONFIG = Path(__file__).parent / "tiny_faster_rcnn.yaml"


@pytest.fixture(scope="session")
def tiny_config():
    return str(TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config):
    """A checkpoint of the reduced Faster R-CNN with seeded random weights (mmdet layout)."""
    from visdet import build_detector

    torch.manual_seed(0)
    model = build_detector(tiny_config)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save({"meta": {"note": "random weights"}, "state_dict": model.state_dict()}, path)
    return str(path)


def scene(height=120, width=160, seed=0):
    """A BGR uint8 picture with a few filled shapes on a noisy background."""
    rng = np.random.default_rng(seed)
    image = rng.integers(30, 60, (height, width, 3), dtype=np.uint8)
    cv2.rectangle(image, (width // 8, height // 4), (width // 2, height * 5 // 6), (0, 200, 255), -1)
    cv2.circle(image, (width * 3 // 4, height // 2), min(height, width) // 5, (255, 120, 0), -1)
    return image


@pytest.fixture()
def scene_file(tmp_path):
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), scene())
    return str(path)
