# Ported from mmdet tests/test_datasets/test_transforms/test_transforms.py (mmdet 3.3.0):
# TestResize, TestRandomFlip, TestPad, TestRandomCrop, TestPhotoMetricDistortion.
# Rewritten for visdet: boxes are Tensor[N, 4] (mmdet's HorizontalBoxes and numpy
# variants collapse into one), masks are visdet's BitmapMasks as upstream's (random float
# masks included), and semantic-map (gt_seg_map) parts are out of scope. Error types are
# visdet's.
import copy

import numpy as np
import pytest
import torch

from visdet.data.transforms import Pad, PhotoMetricDistortion, RandomCrop, RandomFlip, Resize
from visdet.structures import BitmapMasks


def _project(boxes: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """Apply a 3x3 homography to the corners of xyxy boxes (mmdet's bbox_project)."""
    corners = torch.cat([boxes[:, :2], boxes[:, 2:]], 0).double()
    pts = torch.cat([corners, torch.ones(len(corners), 1, dtype=torch.float64)], 1)
    out = (torch.from_numpy(matrix.astype(np.float64)) @ pts.T).T[:, :2]
    n = len(boxes)
    a, b = out[:n], out[n:]
    return torch.cat([torch.minimum(a, b), torch.maximum(a, b)], 1).float()


@pytest.fixture
def resize_infos():
    rng = np.random.RandomState(0)
    info1 = {"img": np.random.random((400, 500, 3)), "gt_bboxes": torch.tensor([[0.0, 0, 112, 112]]),
             "gt_masks": BitmapMasks(rng.rand(1, 400, 500), height=400, width=500)}  # fmt: skip
    info2 = {"img": np.random.random((200, 100, 3)), "gt_bboxes": torch.tensor([[20.0, 15, 60, 45]])}
    info3 = {"img": np.random.random((200, 100, 3))}
    return info1, info2, info3


def test_resize(resize_infos):
    info1, info2, info3 = resize_infos
    r = Resize(scale=(100, 100), keep_ratio=True)(copy.deepcopy(info1))
    assert r["img_shape"] == (80, 100) and r["scale_factor"] == (80 / 400, 100 / 500)
    r = Resize(scale_factor=(1.5, 2))(copy.deepcopy(info1))
    assert torch.equal(r["gt_bboxes"], torch.tensor([[0.0, 0, 168, 224]]))
    assert (r["gt_masks"].height, r["gt_masks"].width) == (800, 750)
    assert r["gt_masks"].masks.shape == (1, 800, 750)
    r = Resize(scale=(200, 150), clip_object_border=False)(copy.deepcopy(info2))
    assert torch.equal(r["gt_bboxes"], torch.tensor([[40.0, 11.25, 120, 33.75]]))
    r = Resize(scale=(200, 150), clip_object_border=False)(copy.deepcopy(info3))
    assert r["img"].shape[:2] == (150, 200)
    r = Resize(scale_factor=(1.5, 2))(copy.deepcopy(info1))
    assert torch.equal(_project(info1["gt_bboxes"], r["homography_matrix"]), r["gt_bboxes"])


def test_resize_use_box_type(resize_infos):
    info1, _, _ = resize_infos
    r = Resize(scale=(100, 150), keep_ratio=True)(copy.deepcopy(info1))
    assert r["img_shape"] == (100, 125) and r["scale_factor"] == (100 / 400, 125 / 500)


def test_resize_repr():
    text = repr(Resize(scale=(100, 100), keep_ratio=True))
    assert "scale=(100, 100)" in text and "keep_ratio=True" in text


@pytest.fixture
def flip_results():
    rng = np.random.RandomState(0)
    return {"img": np.random.random((224, 224, 3)), "gt_bboxes": torch.tensor([[0.0, 1, 100, 101]]),
            "gt_masks": BitmapMasks(rng.rand(1, 224, 224), height=224, width=224)}  # fmt: skip


def test_random_flip_transform(flip_results):
    r = RandomFlip(prob=1.0)(copy.deepcopy(flip_results))
    assert torch.equal(r["gt_bboxes"], torch.tensor([[124.0, 1, 224, 101]]))
    r = RandomFlip(prob=1.0)({"img": flip_results["img"]})
    assert (r["img"] == flip_results["img"][:, ::-1]).all()
    for direction in ("horizontal", "vertical", "diagonal"):
        r = RandomFlip(prob=1.0, direction=direction)(copy.deepcopy(flip_results))
        assert torch.equal(_project(flip_results["gt_bboxes"], r["homography_matrix"]), r["gt_bboxes"])


def test_random_flip_repr():
    assert isinstance(str(RandomFlip(prob=0.1)), str)


def test_pad_transform():
    rng = np.random.RandomState(0)
    results = {"img": np.random.random((100, 80, 3)),
               "gt_masks": BitmapMasks(rng.rand(4, 100, 80), height=100, width=80)}  # fmt: skip
    for kwargs, shape in [({"size": (120, 110)}, (110, 120)), ({"size_divisor": 11}, (110, 88)),
                          ({"pad_to_square": True}, (100, 100)),
                          ({"pad_to_square": True, "size_divisor": 11}, (110, 110))]:  # fmt: skip
        r = Pad(**kwargs)(copy.deepcopy(results))
        assert r["img"].shape[:2] == shape and r["gt_masks"].masks.shape[1:] == shape


def test_pad_repr():
    text = repr(Pad(pad_to_square=True, size_divisor=11, padding_mode="edge"))
    assert "size_divisor=11" in text and "pad_to_square=True" in text


def test_random_crop_init():
    with pytest.raises(ValueError, match="crop_type"):
        RandomCrop(crop_size=(10, 10), crop_type="unknown")
    for crop_type in ("absolute", "absolute_range"):
        for size in [(0, 0), (0, 1), (1, 0)]:
            with pytest.raises(ValueError):
                RandomCrop(crop_size=size, crop_type=crop_type)
        for size in [(1.0, 1), (1, 1.0), (1.0, 1.0)]:
            with pytest.raises(TypeError):
                RandomCrop(crop_size=size, crop_type=crop_type)
    with pytest.raises(ValueError):
        RandomCrop(crop_size=(10, 5), crop_type="absolute_range")
    for crop_type in ("relative_range", "relative"):
        for size in [(0, 1), (1, 0), (1.1, 0.5), (0.5, 1.1)]:
            with pytest.raises(ValueError):
                RandomCrop(crop_size=size, crop_type=crop_type)


def test_random_crop_transform():
    src = {"img": np.random.randint(0, 255, size=(24, 32), dtype=np.int32)}
    for crop_type, size in zip(["relative", "absolute"], [(0.5, 0.5), (16, 12)]):
        assert RandomCrop(crop_size=size, crop_type=crop_type)(copy.deepcopy(src))["img"].shape[:2] == (12, 16)
    r = RandomCrop(crop_size=(10, 20), crop_type="absolute_range")(copy.deepcopy(src))
    h, w = r["img"].shape
    assert 10 <= w <= 20 and 10 <= h <= 20 and r["img_shape"] == (h, w)
    r = RandomCrop(crop_size=(0.5, 0.5), crop_type="relative_range")(copy.deepcopy(src))
    h, w = r["img"].shape
    assert 16 <= w <= 32 and 12 <= h <= 24 and r["img_shape"] == (h, w)

    img = np.random.randint(0, 255, size=(10, 10), dtype=np.uint8)
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[0, 0:7, 0:7] = 1
    masks[1, 2:7, 3:8] = 1
    src = {"img": img, "gt_bboxes": torch.tensor([[0.0, 0, 7, 7], [2, 3, 9, 9]]),
           "gt_masks": BitmapMasks(masks.copy(), height=10, width=10),
           "gt_bboxes_labels": np.array([0, 1]), "gt_ignore_flags": np.array([0, 1], dtype=bool)}  # fmt: skip
    r = RandomCrop(crop_size=(7, 5), allow_negative_crop=False, recompute_bbox=False)(copy.deepcopy(src))
    assert r["img"].shape == (5, 7) and r["img_shape"] == (5, 7)
    assert len(r["gt_bboxes"]) == len(r["gt_bboxes_labels"]) == len(r["gt_ignore_flags"]) == 2
    assert r["gt_masks"].masks.shape == (2, 5, 7)  # visdet: the masks are cropped with the image
    projected = _project(src["gt_bboxes"], r["homography_matrix"])
    projected[:, 0::2] = projected[:, 0::2].clamp(0, 7)
    projected[:, 1::2] = projected[:, 1::2].clamp(0, 5)
    assert torch.equal(projected, r["gt_bboxes"])

    empty_masks = {"img": img, "gt_bboxes": torch.tensor([[0.1, 0.1, 0.2, 0.2]]),
                   "gt_masks": BitmapMasks(np.zeros((1, 10, 10), np.uint8), height=10, width=10)}  # fmt: skip
    r = RandomCrop(crop_size=(10, 11), recompute_bbox=True)(copy.deepcopy(empty_masks))
    assert torch.equal(r["gt_bboxes"], torch.zeros(1, 4))
    r = RandomCrop(crop_size=(10, 11), recompute_bbox=True, bbox_clip_border=False)(
        {"img": img, "gt_bboxes": torch.tensor([[0.1, 0.1, 0.2, 0.2]])})
    assert torch.equal(r["gt_bboxes"], torch.tensor([[0.1, 0.1, 0.2, 0.2]]))

    no_boxes = {"img": img, "gt_bboxes": torch.zeros(0, 4)}
    assert RandomCrop(crop_size=(5, 3))(copy.deepcopy(no_boxes)) is None
    assert isinstance(RandomCrop(crop_size=(5, 3), allow_negative_crop=True)(copy.deepcopy(no_boxes)), dict)


def test_photometric_distortion_transform():
    img = np.random.RandomState(0).randint(0, 255, (32, 40, 3)).astype(np.uint8)
    assert PhotoMetricDistortion()({"img": img.copy()})["img"].dtype == np.float32
    assert PhotoMetricDistortion()({"img": img.astype(np.float32)})["img"].dtype == np.float32


def test_photometric_distortion_repr():
    assert repr(PhotoMetricDistortion()) == (
        "PhotoMetricDistortion(brightness_delta=32, contrast_range=(0.5, 1.5), "
        "saturation_range=(0.5, 1.5), hue_delta=18)"
    )
