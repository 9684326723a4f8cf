import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from visdet.build import build_pipeline
from visdet.config import ConfigError
from visdet.data.data_sample import DetDataSample
from visdet.data.transforms import (
    Compose,
    LoadAnnotations,
    LoadImageFromFile,
    PackDetInputs,
    PhotoMetricDistortion,
)
from visdet.structures import BitmapMasks, PolygonMasks


def test_load_image_color_gray_float(synth):
    path = str(synth.img_dir / "a.png")
    expected = cv2.imread(path, cv2.IMREAD_COLOR)
    r = LoadImageFromFile()({"img_path": path})
    np.testing.assert_array_equal(r["img"], expected)
    assert r["img_shape"] == r["ori_shape"] == (40, 56)
    g = LoadImageFromFile(color_type="grayscale", to_float32=True)({"img_path": path})
    assert g["img"].shape == (40, 56) and g["img"].dtype == np.float32
    with pytest.raises(ValueError, match="color_type"):
        LoadImageFromFile(color_type="rgb")


def _instances(synth, img_id):
    from visdet.data.datasets import CocoDataset

    ds = CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes},
                     data_prefix={"img": str(synth.img_dir)})
    return next(d for d in ds.data_list if d["img_id"] == img_id)


def test_load_annotations_boxes_labels_masks(synth):
    info = _instances(synth, 2)
    info["ori_shape"] = (info["height"], info["width"])
    r = LoadAnnotations(with_mask=True)(info)
    n = len(info["instances"])
    assert r["gt_bboxes"].dtype == torch.float32 and r["gt_bboxes"].shape == (n, 4)
    assert r["gt_bboxes_labels"].dtype == np.int64 and r["gt_ignore_flags"].dtype == bool
    assert isinstance(r["gt_masks"], BitmapMasks)
    assert r["gt_masks"].masks.shape == (n, 48, 64) and r["gt_masks"].masks.dtype == np.uint8
    # the compressed RLE of annotation 20 is the rectangle it was built from
    rect = np.zeros((48, 64), np.uint8)
    rect[8:30, 10:30] = 1
    np.testing.assert_array_equal(r["gt_masks"].masks[0], rect)
    # the crowd RLE (iscrowd=1) is flagged ignored
    assert r["gt_ignore_flags"].tolist() == [False, True, False]


def test_load_annotations_uncompressed_rle_and_polygons(synth):
    info = _instances(synth, 9)
    info["ori_shape"] = (36, 30)
    r = LoadAnnotations(with_mask=True)(info)
    rect = np.zeros((36, 30), np.uint8)
    rect[3:30, 2:20] = 1
    np.testing.assert_array_equal(r["gt_masks"].masks[0], rect)
    poly = info["instances"][1]["mask"]
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, 36, 30)))
    np.testing.assert_array_equal(r["gt_masks"].masks[1], expected)


def test_degenerate_polygon_becomes_ignored_empty_mask():
    info = {"ori_shape": (10, 10), "instances": [
        {"bbox": [0, 0, 5, 5], "bbox_label": 0, "ignore_flag": 0, "mask": [[1, 1, 4, 4]]},
        {"bbox": [0, 0, 5, 5], "bbox_label": 1, "ignore_flag": 0, "mask": [[1, 1, 8, 1, 8, 8]]},
    ]}  # fmt: skip
    r = LoadAnnotations(with_mask=True)(info)
    assert r["gt_ignore_flags"].tolist() == [True, False]
    assert r["gt_masks"].masks[0].sum() == 0 and r["gt_masks"].masks[1].sum() > 0


def test_polygon_masks_kept_and_rle_ignored_without_poly2mask():
    # mmdet: poly2mask=False keeps polygons as PolygonMasks; an RLE becomes ignored with an
    # empty polygon, a polygon with fewer than 3 points too
    info = {"ori_shape": (10, 12), "instances": [
        {"bbox": [0, 0, 5, 5], "bbox_label": 0, "ignore_flag": 0, "mask": [[1, 1, 8, 1, 8, 8], [1, 2]]},
        {"bbox": [0, 0, 5, 5], "bbox_label": 1, "ignore_flag": 0, "mask": {"size": [10, 12], "counts": [5, 3, 112]}},
        {"bbox": [0, 0, 5, 5], "bbox_label": 1, "ignore_flag": 0, "mask": [[1, 1, 4, 4]]},
    ]}  # fmt: skip
    r = LoadAnnotations(with_mask=True, poly2mask=False)(info)
    masks = r["gt_masks"]
    assert isinstance(masks, PolygonMasks) and (masks.height, masks.width) == (10, 12)
    assert r["gt_ignore_flags"].tolist() == [False, True, True]
    assert len(masks.masks[0]) == 1 and masks.masks[0][0].tolist() == [1, 1, 8, 1, 8, 8]
    assert masks.masks[1][0].tolist() == [0.0] * 6 and masks.masks[2][0].tolist() == [0.0] * 6


def test_load_annotations_empty_image():
    r = LoadAnnotations(with_mask=True)({"ori_shape": (7, 9), "instances": []})
    assert r["gt_bboxes"].shape == (0, 4) and r["gt_masks"].masks.shape == (0, 7, 9)
    assert r["gt_bboxes_labels"].shape == (0,)


def test_pack_splits_ignored_and_transposes():
    img = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    results = {
        "img": img, "img_id": 4, "img_shape": (6, 8), "ori_shape": (6, 8), "not_meta": 1,
        "gt_bboxes": torch.arange(12, dtype=torch.float32).view(3, 4),
        "gt_bboxes_labels": np.array([0, 1, 2]), "gt_ignore_flags": np.array([False, True, False]),
        "gt_masks": np.ones((3, 6, 8), np.uint8),
    }  # fmt: skip
    out = PackDetInputs()(results)
    assert torch.equal(out["inputs"], torch.from_numpy(img).permute(2, 0, 1))
    sample = out["data_samples"]
    assert isinstance(sample, DetDataSample)
    assert sample.gt_instances.labels.tolist() == [0, 2] and sample.ignored_instances.labels.tolist() == [1]
    assert torch.equal(sample.ignored_instances.bboxes, torch.tensor([[4.0, 5, 6, 7]]))
    assert sample.gt_instances.masks.shape == (2, 6, 8)
    assert sample.metainfo == {"img_id": 4, "img_shape": (6, 8), "ori_shape": (6, 8)}
    assert sample.img_id == 4
    gray = PackDetInputs()({"img": img[..., 0]})
    assert gray["inputs"].shape == (1, 6, 8)


def test_photometric_is_reproducible_with_numpy_seed():
    img = np.random.default_rng(1).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    outs = []
    for _ in range(2):
        np.random.seed(5)
        outs.append(PhotoMetricDistortion()({"img": img.copy()})["img"])
    assert outs[0].dtype == np.float32 and outs[0].shape == img.shape
    np.testing.assert_array_equal(outs[0], outs[1])
    np.random.seed(6)
    assert not np.array_equal(PhotoMetricDistortion()({"img": img.copy()})["img"], outs[0])


def test_photometric_without_changes_is_identity():
    img = np.random.default_rng(1).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    t = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    np.random.seed(0)
    out = t({"img": img.copy()})["img"]
    # only the channel swap and the HSV round trip remain; the round trip is near-lossless
    assert np.abs(np.sort(out, axis=-1) - np.sort(img.astype(np.float32), axis=-1)).max() < 1e-3


def test_compose_builds_from_configs_and_stops_on_none():
    pipe = Compose(build_pipeline([{"type": "Resize", "scale": (4, 4)}, lambda r: None, {"type": "PackDetInputs"}]))
    assert pipe({"img": np.zeros((8, 8, 3), np.uint8)}) is None
    with pytest.raises(ConfigError, match=r"pipeline\[0\].type: unknown type 'Mosaic'"):
        build_pipeline([{"type": "Mosaic"}])
    with pytest.raises(ConfigError, match=r"pipeline\[1\].bogus: unknown key"):
        build_pipeline([{"type": "PackDetInputs"}, {"type": "Resize", "scale": 3, "bogus": 1}])
    with pytest.raises(ConfigError, match=r"pipeline\[0\]: missing 'type' key"):
        build_pipeline([{"scale": 3}])
    with pytest.raises(TypeError, match="visdet.build.build_pipeline"):
        Compose([{"type": "Resize", "scale": 3}])
