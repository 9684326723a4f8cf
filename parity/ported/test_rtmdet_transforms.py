# Ported from mmdet 3.3.0 tests/test_datasets/test_transforms/test_transforms.py (TestMosaic,
# TestMixUp, TestYOLOXHSVRandomAug) and tests/test_datasets/test_transforms/test_loading.py
# (TestFilterAnnotations). Rewritten for visdet: boxes are Tensor[N, 4], masks visdet's
# BitmapMasks. mmdet tests Mosaic and MixUp, which take their extra images from
# results['mix_results'] (a dataset wrapper visdet does not mirror); their checks run here on
# CachedMosaic and CachedMixUp, which share that code and take the images from their cache
# (warmed with copies of the same item, as upstream repeats the item in mix_results).
# The YOLOX HSV test reads upstream's color.jpg; a seeded random image stands in. Error
# types are visdet's (ValueError/TypeError instead of AssertionError).
import copy

import numpy as np
import pytest
import torch

from visdet.data.transforms import CachedMixUp, CachedMosaic, FilterAnnotations, YOLOXHSVRandomAug
from visdet.structures import BitmapMasks


def _results(with_masks: bool = True) -> dict:
    rng = np.random.RandomState(0)
    results = {
        "img": np.random.random((224, 224, 3)),
        "img_shape": (224, 224),
        "gt_bboxes_labels": np.array([1, 2, 3], dtype=np.int64),
        "gt_bboxes": torch.tensor([[10, 10, 20, 20], [20, 20, 40, 40], [40, 40, 80, 80]], dtype=torch.float32),
        "gt_ignore_flags": np.array([0, 0, 1], dtype=bool),
    }
    if with_masks:
        results["gt_masks"] = BitmapMasks(rng.rand(3, 224, 224), height=224, width=224)
    return results


def _warm(transform, results: dict, copies: int) -> None:
    for _ in range(copies):
        transform(copy.deepcopy(results))


def _check_types(results: dict) -> None:
    assert results["gt_bboxes_labels"].shape[0] == results["gt_bboxes"].shape[0]
    assert results["gt_bboxes_labels"].dtype == np.int64
    assert results["gt_bboxes"].dtype == torch.float32
    assert results["gt_ignore_flags"].dtype == bool
    assert results["img_shape"] == results["img"].shape[:2]


# ------------------------------------------------------------------------ TestMosaic
def test_mosaic_transform():
    with pytest.raises(TypeError):
        CachedMosaic(img_scale=640)
    with pytest.raises(ValueError):
        CachedMosaic(prob=1.5)
    transform = CachedMosaic(img_scale=(12, 10), max_cached_images=5)
    _warm(transform, _results(), 4)
    results = transform(copy.deepcopy(_results()))
    assert results["img"].shape[:2] == (20, 24)
    _check_types(results)


def test_mosaic_transform_with_no_gt():
    empty = _results(with_masks=False)
    empty["gt_bboxes"] = torch.zeros((0, 4), dtype=torch.float32)
    empty["gt_bboxes_labels"] = np.empty((0,), dtype=np.int64)
    empty["gt_ignore_flags"] = np.empty((0,), dtype=bool)
    transform = CachedMosaic(img_scale=(12, 10), max_cached_images=5)
    _warm(transform, empty, 4)
    results = transform(copy.deepcopy(empty))
    assert isinstance(results, dict) and results["img"].shape[:2] == (20, 24)
    assert results["gt_bboxes_labels"].shape[0] == results["gt_bboxes"].shape[0] == 0
    assert results["gt_ignore_flags"].shape[0] == 0
    _check_types(results)


def test_mosaic_transform_use_box_type():
    # upstream repeats test_transform with HorizontalBoxes; visdet boxes are one type
    transform = CachedMosaic(img_scale=(12, 10), max_cached_images=5)
    _warm(transform, _results(with_masks=False), 4)
    results = transform(_results(with_masks=False))
    assert results["img"].shape[:2] == (20, 24)
    _check_types(results)


def test_mosaic_repr():
    text = repr(CachedMosaic(img_scale=(640, 640)))
    assert text.startswith("CachedMosaic(img_scale=(640, 640), center_ratio_range=(0.5, 1.5), pad_val=114.0, prob=1.0")


# ------------------------------------------------------------------------- TestMixUp
def test_mixup_transform():
    with pytest.raises(TypeError):
        CachedMixUp(img_scale=640)
    transform = CachedMixUp(img_scale=(12, 10), max_cached_images=2)
    _warm(transform, _results(), 1)
    results = transform(copy.deepcopy(_results()))
    assert results["img"].shape[:2] == (224, 224)
    _check_types(results)


def test_mixup_transform_use_box_type():
    transform = CachedMixUp(img_scale=(12, 10), max_cached_images=2)
    _warm(transform, _results(with_masks=False), 1)
    results = transform(_results(with_masks=False))
    assert results["img"].shape[:2] == (224, 224)
    _check_types(results)


def test_mixup_repr():
    text = repr(CachedMixUp(img_scale=(640, 640), ratio_range=(0.8, 1.6), pad_val=114.0))
    assert text.startswith(
        "CachedMixUp(dynamic_scale=(640, 640), ratio_range=(0.8, 1.6), flip_ratio=0.5, pad_val=114.0, "
        "max_iters=15, bbox_clip_border=True"
    )


# ------------------------------------------------------------- TestYOLOXHSVRandomAug
def test_yolox_hsv_transform():
    results = _results(with_masks=False)
    results["img"] = np.random.RandomState(1).randint(0, 256, (60, 80, 3)).astype(np.uint8)
    out = YOLOXHSVRandomAug()(copy.deepcopy(results))
    assert out["img"].shape[:2] == results["img"].shape[:2]
    assert out["gt_bboxes_labels"].shape[0] == out["gt_bboxes"].shape[0]
    assert out["gt_bboxes_labels"].dtype == np.int64
    assert out["gt_bboxes"].dtype == torch.float32
    assert out["gt_ignore_flags"].dtype == bool


def test_yolox_hsv_repr():
    assert repr(YOLOXHSVRandomAug()) == "YOLOXHSVRandomAug(hue_delta=5, saturation_delta=30, value_delta=30)"


# ------------------------------------------------------------- TestFilterAnnotations
def test_filter_annotations_transform():
    assert FilterAnnotations(min_gt_bbox_wh=(50, 50), keep_empty=True)(_results()) is None
    assert isinstance(FilterAnnotations(min_gt_bbox_wh=(50, 50), keep_empty=False)(_results()), dict)
    results = FilterAnnotations(min_gt_bbox_wh=(15, 15))(_results())
    assert isinstance(results, dict)
    assert results["gt_bboxes_labels"].tolist() == [2, 3]
    assert results["gt_bboxes"].tolist() == [[20, 20, 40, 40], [40, 40, 80, 80]]
    assert len(results["gt_masks"]) == 2 and len(results["gt_ignore_flags"]) == 2


def test_filter_annotations_repr():
    text = repr(FilterAnnotations(min_gt_bbox_wh=(1, 1), keep_empty=False))
    assert text == (
        "FilterAnnotations(min_gt_bbox_wh=(1, 1), min_gt_mask_area=1, by_box=True, by_mask=False, keep_empty=False)"
    )
