"""Every bad input gives an error naming the file and the offending id."""

import json

import pytest

from visdet.build import build_pipeline
from visdet.data.datasets import CocoDataset
from visdet.data.transforms import LoadImageFromFile


def _write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def _valid():
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 10}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 2, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}],
        "categories": [{"id": 2, "name": "thing"}],
    }


def _load(path, **kw):
    return CocoDataset(ann_file=path, metainfo={"classes": ("thing",)}, **kw)


def test_valid_minimal_file_loads(tmp_path):
    ds = _load(_write(tmp_path, _valid()))
    assert ds.data_list[0]["instances"][0]["bbox"] == [1, 1, 5, 5]


def test_not_json(tmp_path):
    path = _write(tmp_path, "{this is not json")
    with pytest.raises(ValueError, match=r"bad\.json: not a JSON file"):
        _load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        _load(str(tmp_path / "nope.json"))


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_missing_top_level_list(tmp_path, key):
    data = _valid()
    del data[key]
    with pytest.raises(ValueError, match=rf"bad\.json: missing the '{key}' list"):
        _load(_write(tmp_path, data))


def test_test_mode_allows_missing_annotations(tmp_path):
    data = _valid()
    del data["annotations"]
    assert len(_load(_write(tmp_path, data), test_mode=True)) == 1


def test_unknown_image_id(tmp_path):
    data = _valid()
    data["annotations"][0]["image_id"] = 77
    with pytest.raises(ValueError, match=r"bad\.json: annotation 5 refers to unknown image_id 77"):
        _load(_write(tmp_path, data))


def test_unknown_category_id_is_skipped_with_a_warning(tmp_path):
    # mmdet skips an annotation whose category is not listed (its tests/data/coco_sample.json
    # has one); visdet does the same, and says so instead of dropping it silently.
    data = _valid()
    data["annotations"].append({**data["annotations"][0], "id": 6, "category_id": 99})
    from visdet.data.datasets.coco import CocoAnnotationWarning

    expected = r"bad\.json: skipped 1 annotation\(s\) with a category_id .*ids: 6\)"
    with pytest.warns(CocoAnnotationWarning, match=expected):
        ds = _load(_write(tmp_path, data))
    assert [inst["bbox"] for inst in ds.data_list[0]["instances"]] == [[1, 1, 5, 5]]


def test_missing_category_id(tmp_path):
    data = _valid()
    del data["annotations"][0]["category_id"]
    with pytest.raises(ValueError, match=r"bad\.json: annotation 5 has no 'category_id'"):
        _load(_write(tmp_path, data))


def test_duplicate_annotation_id(tmp_path):
    data = _valid()
    data["annotations"].append(dict(data["annotations"][0]))
    with pytest.raises(ValueError, match=r"bad\.json: annotation ids are not unique: 5"):
        _load(_write(tmp_path, data))


def test_duplicate_image_id_and_missing_image_field(tmp_path):
    data = _valid()
    data["images"].append(dict(data["images"][0]))
    with pytest.raises(ValueError, match=r"bad\.json: image id 1 appears twice"):
        _load(_write(tmp_path, data))
    data = _valid()
    del data["images"][0]["height"]
    with pytest.raises(ValueError, match=r"bad\.json: image #0 \(id=1\) has no 'height'"):
        _load(_write(tmp_path, data))


@pytest.mark.parametrize("bbox", [[1, 1, 0, 4], [1, 1, 4, -2], [1, 1, 0.5, 3]])
def test_degenerate_box_is_skipped_with_warning(tmp_path, bbox):
    data = _valid()
    data["annotations"][0]["bbox"] = bbox
    with pytest.warns(UserWarning, match=r"bad\.json: skipped 1 annotation.*ann ids: 5"):
        ds = _load(_write(tmp_path, data))
    assert ds.data_list[0]["instances"] == []


def test_malformed_bbox(tmp_path):
    data = _valid()
    data["annotations"][0]["bbox"] = [1, 2, 3]
    with pytest.raises(ValueError, match=r"bad\.json: annotation 5 needs 'bbox'"):
        _load(_write(tmp_path, data))


@pytest.mark.parametrize("seg", ["polygon-as-string", 42, {"counts": [1, 2]}])
def test_unknown_segmentation_format(tmp_path, seg):
    data = _valid()
    data["annotations"][0]["segmentation"] = seg
    with pytest.raises(ValueError, match=r"bad\.json: annotation 5 has an unknown segmentation format"):
        _load(_write(tmp_path, data))


def test_missing_image_file_names_path_and_id(dataset_kwargs, synth):
    (synth.img_dir / "a.png").unlink()
    ds = CocoDataset(**dataset_kwargs, pipeline=build_pipeline([{"type": "LoadImageFromFile"}]), test_mode=True)
    with pytest.raises(FileNotFoundError, match=r"a\.png.*img_id=1"):
        ds[0]


def test_truncated_jpeg_names_path_and_id(dataset_kwargs, synth):
    path = synth.img_dir / "b.jpg"
    path.write_bytes(path.read_bytes()[:20])
    ds = CocoDataset(**dataset_kwargs, pipeline=build_pipeline([{"type": "LoadImageFromFile"}]), test_mode=True)
    with pytest.raises(ValueError, match=r"b\.jpg.*img_id=2.*truncated"):
        ds[1]


def test_ignore_empty_returns_none(tmp_path):
    assert LoadImageFromFile(ignore_empty=True)({"img_path": str(tmp_path / "x.png")}) is None
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert LoadImageFromFile(ignore_empty=True)({"img_path": str(empty)}) is None
    with pytest.raises(ValueError, match=r"empty\.jpg.*img_id=3"):
        LoadImageFromFile()({"img_path": str(empty), "img_id": 3})


def test_rle_of_another_size_names_the_annotation(tmp_path):
    data = _valid()
    data["annotations"][0]["segmentation"] = {"size": [12, 10], "counts": [0, 120]}
    with pytest.raises(ValueError, match=r"bad\.json.*annotation 5: RLE size \[12, 10\] does not match image 1"):
        _load(_write(tmp_path, data))
    data["annotations"][0]["segmentation"] = {"size": [10, 10], "counts": [0, 100]}
    assert _load(_write(tmp_path, data, "good.json")).data_list[0]["instances"][0]["mask"]["size"] == [10, 10]


def test_masks_and_boxes_must_agree_in_count():
    import torch

    from visdet.structures import BitmapMasks, Instances

    with pytest.raises(ValueError, match="field 'masks' has length 1, but field 'bboxes' has length 2"):
        Instances(bboxes=torch.zeros(2, 4), labels=torch.zeros(2, dtype=torch.long),
                  masks=BitmapMasks(torch.zeros(1, 4, 4, dtype=torch.uint8).numpy(), 4, 4))


def test_pack_det_inputs_names_the_image_when_masks_and_boxes_disagree():
    # mmdet fails with an IndexError (masks indexed by the ignore flags) or an AssertionError
    import numpy as np
    import torch

    from visdet.data.transforms import PackDetInputs
    from visdet.structures import BitmapMasks

    results = {"img": np.zeros((4, 5, 3), np.uint8), "img_shape": (4, 5), "img_id": 7, "img_path": "dir/x.png",
               "gt_bboxes": torch.zeros(2, 4), "gt_bboxes_labels": np.zeros(2, np.int64),
               "gt_ignore_flags": np.array([False, True]),
               "gt_masks": BitmapMasks(np.zeros((1, 4, 5), np.uint8), 4, 5)}  # fmt: skip
    with pytest.raises(ValueError, match=r"img_id=7 \(dir/x\.png\).*'gt_bboxes': 2.*'gt_masks': 1"):
        PackDetInputs()(results)
    results["gt_masks"] = BitmapMasks(np.zeros((2, 4, 5), np.uint8), 4, 5)
    packed = PackDetInputs()(results)["data_samples"]
    assert len(packed.gt_instances.masks) == 1 and len(packed.ignored_instances.masks) == 1


def test_load_annotations_rle_of_another_size_names_the_image():
    from visdet.data.transforms import LoadAnnotations

    results = {"ori_shape": (10, 10), "img_id": 4, "img_path": "im/4.png",
               "instances": [{"bbox": [0, 0, 2, 2], "bbox_label": 0, "ignore_flag": 0,
                              "mask": {"size": [12, 10], "counts": [0, 120]}}]}  # fmt: skip
    with pytest.raises(ValueError, match=r"img_id=4 \(im/4\.png\): an RLE mask of size \[12, 10\].*\[10, 10\]"):
        LoadAnnotations(with_mask=True)(results)


def _segm_metric_file(tmp_path, segmentation):
    data = _valid()
    data["annotations"][0]["segmentation"] = segmentation
    data["annotations"].append({"id": 6, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25,
                                "iscrowd": 0, "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]]})  # fmt: skip
    return _write(tmp_path, data, "gt.json")


def _evaluate_segm(ann_file):
    import numpy as np
    import torch

    from visdet.evaluation import CocoMetric

    metric = CocoMetric(ann_file=ann_file, metric=["bbox", "segm"])
    metric.dataset_meta = {"classes": ("thing",)}
    mask = np.zeros((1, 10, 10), bool)
    mask[0, 1:6, 1:6] = True
    metric.process({}, [{"img_id": 1, "ori_shape": (10, 10), "pred_instances": {
        "bboxes": torch.tensor([[1.0, 1.0, 6.0, 6.0]]), "scores": torch.tensor([0.9]),
        "labels": torch.tensor([0]), "masks": torch.from_numpy(mask)}}])  # fmt: skip
    return metric.evaluate(size=1)


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        # pycocotools reads a first part of 4 numbers as a box (TypeError 'bb'), fewer is "not supported"
        ([[1, 1, 4, 4]], r"annotation 5: its first polygon has 4 coordinates"),
        ([[1, 1], [1, 1, 8, 1, 8, 8]], r"annotation 5: its first polygon has 2 coordinates"),
    ],
)
def test_segm_metric_names_ground_truth_pycocotools_cannot_rasterise(tmp_path, segmentation, message):
    ann_file = _segm_metric_file(tmp_path, segmentation)
    with pytest.raises(ValueError, match=r"gt\.json: " + message):
        _evaluate_segm(ann_file)


def test_segm_metric_names_ground_truth_without_segmentation(tmp_path):
    data = _valid()  # annotation 5 has no segmentation at all (pycocotools: KeyError 'segmentation')
    with pytest.raises(ValueError, match=r"gt\.json: annotation 5 has no segmentation"):
        _evaluate_segm(_write(tmp_path, data, "gt.json"))


def test_segm_metric_accepts_short_parts_after_the_first(tmp_path):
    # pycocotools rasterises a later short part as a thin line; mmdet's metric then works too
    ann_file = _segm_metric_file(tmp_path, [[1, 1, 6, 1, 6, 6, 1, 6], [2, 2, 3, 3], [1, 1, 2, 2, 3]])
    results = _evaluate_segm(ann_file)
    assert results["coco/segm_mAP_50"] > 0.4 and results["coco/bbox_mAP_50"] > 0.4  # 1 of 2 identical gts found


def test_segm_metric_checks_only_the_evaluated_categories(tmp_path):
    # COCOeval rasterises only the ground truth of the evaluated categories; a bad polygon of
    # another category is never read by pycocotools, so it is no error (as with mmdet)
    data = _valid()
    data["categories"].append({"id": 3, "name": "other"})
    data["annotations"][0]["segmentation"] = [[1, 1, 6, 1, 6, 6, 1, 6]]
    data["annotations"].append({"id": 6, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "area": 25,
                                "iscrowd": 0, "segmentation": [[1, 1, 4, 4]]})  # fmt: skip
    results = _evaluate_segm(_write(tmp_path, data, "gt.json"))
    assert results["coco/segm_mAP_50"] == 1.0
