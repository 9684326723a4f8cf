# Ported from mmdet tests/test_datasets/test_transforms/test_loading.py (TestLoadAnnotations)
# and tests/test_datasets/test_transforms/test_formatting.py (TestPackDetInputs), mmdet 3.3.0.
# Rewritten for visdet: boxes are a float32 Tensor, masks visdet's BitmapMasks (poly2mask=True)
# or PolygonMasks (poly2mask=False), as upstream; semantic maps and proposals are out of scope.
import copy

import numpy as np
import pytest
import torch

from visdet.data.data_sample import DetDataSample
from visdet.data.transforms import LoadAnnotations, PackDetInputs
from visdet.structures import BitmapMasks, PolygonMasks
from visdet.structures.instances import Instances


@pytest.fixture
def ann_results():
    return {
        "img_shape": (300, 400), "ori_shape": (300, 400),
        "instances": [
            {"bbox": [0, 0, 10, 20], "bbox_label": 1, "mask": [[0, 0, 0, 20, 10, 20, 10, 0]], "ignore_flag": 0},
            {"bbox": [10, 10, 110, 120], "bbox_label": 2, "mask": [[10, 10, 110, 10, 110, 120, 110, 10]],
             "ignore_flag": 0},
            {"bbox": [50, 50, 60, 80], "bbox_label": 2, "mask": [[50, 50, 60, 50, 60, 80, 50, 80]], "ignore_flag": 1},
        ],
    }  # fmt: skip


def test_load_bboxes(ann_results):
    r = LoadAnnotations(with_bbox=True, with_label=False, with_mask=False)(copy.deepcopy(ann_results))
    assert torch.equal(r["gt_bboxes"], torch.tensor([[0.0, 0, 10, 20], [10, 10, 110, 120], [50, 50, 60, 80]]))
    assert r["gt_bboxes"].dtype == torch.float32
    assert r["gt_ignore_flags"].tolist() == [False, False, True] and r["gt_ignore_flags"].dtype == bool
    assert "gt_bboxes_labels" not in r


def test_load_labels(ann_results):
    r = LoadAnnotations(with_bbox=False, with_label=True)(copy.deepcopy(ann_results))
    assert r["gt_bboxes_labels"].tolist() == [1, 2, 2] and r["gt_bboxes_labels"].dtype == np.int64
    assert "gt_bboxes" not in r


def test_load_mask(ann_results):
    r = LoadAnnotations(with_bbox=False, with_label=False, with_mask=True, poly2mask=False)(
        copy.deepcopy(ann_results)
    )
    assert isinstance(r["gt_masks"], PolygonMasks) and len(r["gt_masks"]) == 3


def test_load_mask_poly2mask(ann_results):
    r = LoadAnnotations(with_bbox=False, with_label=False, with_mask=True)(copy.deepcopy(ann_results))
    assert isinstance(r["gt_masks"], BitmapMasks)
    assert r["gt_masks"].masks.shape == (3, 300, 400) and r["gt_masks"].masks.dtype == np.uint8
    # the first polygon is the box [0, 0, 10, 20]: its mask covers that rectangle
    ys, xs = np.nonzero(r["gt_masks"].masks[0])
    assert xs.min() == 0 and ys.min() == 0 and 9 <= xs.max() <= 10 and 19 <= ys.max() <= 20


def test_load_annotations_repr():
    text = repr(LoadAnnotations(with_bbox=True, with_label=False, with_mask=False))
    assert "with_bbox=True" in text and "with_label=False" in text and "with_mask=False" in text


def _pack_results(rng, with_ignore):
    results = {
        "img_id": 1, "img_path": "color.jpg", "ori_shape": (300, 400), "img_shape": (600, 800),
        "scale_factor": 2.0, "flip": False, "img": rng.rand(300, 400),
        "gt_masks": BitmapMasks(rng.rand(3, 300, 400), height=300, width=400),
        "gt_bboxes_labels": rng.rand(3),
    }  # fmt: skip
    if with_ignore:
        results["gt_ignore_flags"] = np.array([0, 0, 1], dtype=bool)
    return results


META_KEYS = ("img_id", "img_path", "ori_shape", "scale_factor", "flip")


def test_pack_transform():
    out = PackDetInputs(meta_keys=META_KEYS)(_pack_results(np.random.RandomState(0), True))
    sample = out["data_samples"]
    assert isinstance(sample, DetDataSample)
    assert isinstance(sample.gt_instances, Instances) and isinstance(sample.ignored_instances, Instances)
    assert len(sample.gt_instances) == 2 and len(sample.ignored_instances) == 1
    # the masks stay BitmapMasks, split by the ignore flags (visdet checks the split content too)
    masks = _pack_results(np.random.RandomState(0), True)["gt_masks"].masks
    assert isinstance(sample.gt_instances.masks, BitmapMasks)
    assert np.array_equal(sample.gt_instances.masks.masks, masks[:2])
    assert np.array_equal(sample.ignored_instances.masks.masks, masks[2:])
    assert set(sample.metainfo) == set(META_KEYS)
    assert out["inputs"].shape == (1, 300, 400)


def test_pack_transform_without_ignore():
    out = PackDetInputs(meta_keys=META_KEYS)(_pack_results(np.random.RandomState(0), False))
    sample = out["data_samples"]
    assert len(sample.gt_instances) == 3 and len(sample.ignored_instances) == 0
    assert isinstance(sample.gt_instances.masks, BitmapMasks) and len(sample.gt_instances.masks) == 3


def test_pack_repr():
    assert repr(PackDetInputs(meta_keys=META_KEYS)) == f"PackDetInputs(meta_keys={META_KEYS})"
