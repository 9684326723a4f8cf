# Ported from mmdet tests/test_datasets/test_coco.py (mmdet 3.3.0).
# Rewritten for visdet: visdet's synthetic COCO set with its edge cases
# (write_coco_synth(with_invalid=True)) replaces mmdet's tests/data/coco_sample.json and
# carries the same ones: a crowd box without segmentation, an `ignore` box, zero-area and
# sub-pixel boxes, an annotation whose category is not in `categories`. The
# data/datasets/coco parity cases compare visdet's data list on that file with mmdet's.
# A repeated annotation id raises ValueError naming the file.
import json

import pytest

from visdet.data.datasets import CocoDataset
from visdet.testing.coco_synth import write_coco_synth


@pytest.fixture
def synth(tmp_path):
    return write_coco_synth(tmp_path, with_invalid=True)


def test_coco_dataset(synth):
    metainfo = {"classes": ("cat", "dog"), "task_name": "new_task"}
    ds = CocoDataset(data_prefix={"img": str(synth.img_dir)}, ann_file=str(synth.ann_file), metainfo=metainfo,
                     filter_cfg={"filter_empty_gt": True, "min_size": 32}, pipeline=[])  # fmt: skip
    assert ds.metainfo["classes"] == ("cat", "dog")
    assert ds.metainfo["task_name"] == "new_task"
    # empty.png has no annotation and sub/c.jpg is 30 pixels wide: both filtered out
    assert [d["img_id"] for d in ds.data_list] == [1, 2]


def test_coco_dataset_without_filter_cfg(synth):
    with pytest.warns(UserWarning, match="skipped"):  # the edge-case annotations, named
        ds = CocoDataset(data_prefix={"img": str(synth.img_dir)}, ann_file=str(synth.ann_file),
                         metainfo={"classes": synth.classes}, pipeline=[])  # fmt: skip
    assert len(ds) == 4


def test_coco_annotation_ids_unique(synth, tmp_path):
    data = json.loads(synth.ann_file.read_text())
    data["annotations"][1]["id"] = data["annotations"][0]["id"]
    bad = tmp_path / "coco_wrong_format_sample.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="are not unique"):
        CocoDataset(ann_file=str(bad), metainfo={"classes": ("cat",)}, pipeline=[])
