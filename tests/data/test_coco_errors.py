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
