import json
import warnings

import numpy as np
import pytest

from visdet.build import build_pipeline
from visdet.data.datasets import CocoAnnotationWarning, CocoDataset


def _ds(dataset_kwargs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CocoAnnotationWarning)
        return CocoDataset(**dataset_kwargs, **kw)


def test_images_in_file_order_with_fields(dataset_kwargs, synth):
    ds = _ds(dataset_kwargs)
    assert [d["img_id"] for d in ds.data_list] == [img["id"] for img in synth.data["images"]]
    for info, img in zip(ds.data_list, synth.data["images"]):
        assert info["img_path"].endswith(img["file_name"])
        assert (info["height"], info["width"]) == (img["height"], img["width"])
        assert info["seg_map_path"] is None


def test_labels_follow_category_order_of_file(dataset_kwargs, synth):
    ds = _ds(dataset_kwargs)
    # classes are matched by name; labels index the file's category order (pycocotools getCatIds)
    file_order = [c["id"] for c in synth.data["categories"] if c["name"] in synth.classes]
    assert ds.cat_ids == file_order
    by_id = {a["id"]: a for a in synth.data["annotations"]}
    for info in ds.data_list:
        for inst in info["instances"]:
            ann = next(a for a in by_id.values() if a["image_id"] == info["img_id"]
                       and a["bbox"][0] == inst["bbox"][0] and a["bbox"][1] == inst["bbox"][1])
            assert file_order[inst["bbox_label"]] == ann["category_id"]
            x, y, w, h = ann["bbox"]
            assert inst["bbox"] == [x, y, x + w, y + h]
            assert inst["ignore_flag"] == int(bool(ann.get("iscrowd")))


def test_ignore_annotations_are_skipped_and_crowd_is_ignored(dataset_kwargs, synth):
    ds = _ds(dataset_kwargs)
    n_ignore = sum(1 for a in synth.data["annotations"] if a.get("ignore"))
    assert n_ignore > 0
    total = sum(len(d["instances"]) for d in ds.data_list)
    assert total == len(synth.data["annotations"]) - n_ignore
    assert sum(i["ignore_flag"] for d in ds.data_list for i in d["instances"]) == sum(
        1 for a in synth.data["annotations"] if a.get("iscrowd") and not a.get("ignore"))


def test_empty_image_kept_unless_filtered(dataset_kwargs):
    ds = _ds(dataset_kwargs)
    assert any(len(d["instances"]) == 0 for d in ds.data_list)
    filtered = _ds(dataset_kwargs, filter_cfg={"filter_empty_gt": True})
    assert all(len(d["instances"]) > 0 for d in filtered.data_list)
    assert len(filtered) == len(ds) - 1
    # test mode never filters
    assert len(_ds(dataset_kwargs, filter_cfg={"filter_empty_gt": True}, test_mode=True)) == len(ds)


def test_min_size_filter(dataset_kwargs):
    ds = _ds(dataset_kwargs, filter_cfg={"min_size": 36})
    assert all(min(d["height"], d["width"]) >= 36 for d in ds.data_list)
    assert len(ds) < len(_ds(dataset_kwargs))


def test_class_subset_drops_other_categories(dataset_kwargs):
    kw = dict(dataset_kwargs, metainfo={"classes": ("cat",)})
    ds = _ds(kw)
    assert ds.cat_ids == [3]
    assert {i["bbox_label"] for d in ds.data_list for i in d["instances"]} == {0}


def test_degenerate_boxes_warn_with_count_file_and_ids(tmp_path):
    from visdet.testing.coco_synth import write_coco_synth

    synth = write_coco_synth(tmp_path, with_invalid=True)
    with pytest.warns(CocoAnnotationWarning) as record:
        ds = CocoDataset(ann_file=str(synth.ann_file), metainfo={"classes": synth.classes})
    messages = [str(r.message) for r in record]
    assert len(messages) == 2 and all(str(synth.ann_file) in m for m in messages)
    invalid, dangling = messages
    assert "skipped 4 " in invalid and "zero-area" in invalid
    assert sorted(invalid.split("ann ids: ")[1].rstrip(")").split(", ")) == ["30", "31", "32", "33"]
    assert "skipped 1 " in dangling and "category_id" in dangling and dangling.endswith("(ann ids: 34)")
    ids = {tuple(i["bbox"]) for d in ds.data_list for i in d["instances"]}
    assert (5.0, 5.0, 5.0, 15.0) not in ids
    # the crowd box without a segmentation and the annotation without iscrowd are kept, as mmdet keeps them
    kept = {(i["bbox_label"], i["ignore_flag"], "mask" in i): tuple(i["bbox"]) for d in ds.data_list
            for i in d["instances"]}
    assert kept[(1, 1, False)] == (20.0, 22.0, 32.0, 34.0)
    assert kept[(2, 0, True)] == (8.0, 16.0, 22.0, 28.0)


def test_getitem_runs_pipeline_and_sets_sample_idx(dataset_kwargs):
    ds = _ds(dataset_kwargs, pipeline=build_pipeline([{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations"}]))
    item = ds[1]
    assert item["sample_idx"] == 1
    assert item["img"].shape[:2] == (item["height"], item["width"])
    assert item["gt_bboxes"].shape == (len(item["instances"]), 4)
    # the stored list is not modified by the pipeline
    assert "img" not in ds.data_list[1]


def test_none_from_pipeline_draws_another_item(dataset_kwargs):
    calls = []

    def reject_first(results):
        calls.append(results["sample_idx"])
        return None if len(calls) == 1 else results

    np.random.seed(0)
    ds = _ds(dataset_kwargs, pipeline=[reject_first])
    assert ds[0] is not None and len(calls) == 2
    with pytest.raises(RuntimeError, match="test pipeline returned None"):
        _ds(dataset_kwargs, pipeline=[lambda r: None], test_mode=True)[0]


def test_lazy_init_and_indices_and_data_root(dataset_kwargs, synth):
    ds = CocoDataset(ann_file="annotations.json", data_root=str(synth.root), data_prefix={"img": "images/"},
                     metainfo={"classes": synth.classes}, lazy_init=True, indices=[3, 0])
    assert not ds.data_list
    assert [d["img_id"] for d in ds.data_list or [ds.get_data_info(0), ds.get_data_info(1)]] == [9, 1]
    assert ds.get_data_info(0)["img_path"] == str(synth.root / "images" / "sub/c.jpg")
    assert ds.get_cat_ids(0) == [0, 1]


def test_metainfo_default_is_coco80():
    assert len(CocoDataset.METAINFO["classes"]) == 80


def test_annotation_file_written_is_json(synth):
    assert json.loads(synth.ann_file.read_text())["categories"][0]["id"] == 7
