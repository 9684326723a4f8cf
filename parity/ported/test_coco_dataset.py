# Ported from mmdet tests/test_datasets/test_coco.py (mmdet 3.3.0).
# Rewritten for visdet: the synthetic COCO set written at test time replaces
# tests/data/coco_sample.json; a repeated annotation id raises ValueError naming the file.
import json

import pytest

from visdet.data.datasets import CocoDataset
from visdet.testing.coco_synth import write_coco_synth


@pytest.fixture
def synth(tmp_path):
    return write_coco_synth(tmp_path)


def test_coco_dataset(synth):
    metainfo = {"classes": ("cat", "dog"), "task_name": "new_task"}
    ds = CocoDataset(data_prefix={"img": str(synth.img_dir)}, ann_file=str(synth.ann_file), metainfo=metainfo,
                     filter_cfg={"filter_empty_gt": True, "min_size": 32}, pipeline=[])  # fmt: skip
    assert ds.metainfo["classes"] == ("cat", "dog")
    assert ds.metainfo["task_name"] == "new_task"
    assert all(d["instances"] and min(d["height"], d["width"]) >= 32 for d in ds.data_list)


def test_coco_dataset_without_filter_cfg(synth):
    ds = CocoDataset(data_prefix={"img": str(synth.img_dir)}, ann_file=str(synth.ann_file),
                     metainfo={"classes": synth.classes}, pipeline=[])  # fmt: skip
    assert len(ds) == len(synth.data["images"])


def test_coco_annotation_ids_unique(synth, tmp_path):
    data = json.loads(synth.ann_file.read_text())
    data["annotations"][1]["id"] = data["annotations"][0]["id"]
    bad = tmp_path / "coco_wrong_format_sample.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="are not unique"):
        CocoDataset(ann_file=str(bad), metainfo={"classes": ("cat",)}, pipeline=[])
