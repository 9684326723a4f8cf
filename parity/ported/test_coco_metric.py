# Ported from mmdet tests/test_evaluation/test_metrics/test_coco_metric.py (mmdet 3.3.0).
# Rewritten for visdet's CocoMetric (same keys and numbers); error types are visdet's.
import json
import os.path as osp

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

from visdet.evaluation import CocoMetric

TARGET_BBOX = {f"coco/bbox_{k}": 1.0 for k in ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")}
TARGET_SEGM = {f"coco/segm_{k}": 1.0 for k in ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")}


@pytest.fixture
def fake_json(tmp_path):
    mask = np.zeros((10, 10), order="F", dtype=np.uint8)
    mask[:5, :5] = 1
    rle = mask_util.encode(mask)
    rle["counts"] = rle["counts"].decode("utf-8")
    boxes = [(1, 0, [50, 60, 20, 20], 400), (2, 0, [100, 120, 30, 30], 900),
             (3, 1, [150, 160, 40, 40], 1600), (4, 0, [250, 260, 100, 100], 10000)]  # fmt: skip
    data = {
        "images": [{"id": 0, "width": 640, "height": 640, "file_name": "fake_name.jpg"}],
        "annotations": [{"id": i, "image_id": 0, "category_id": c, "area": a, "bbox": b, "iscrowd": 0,
                         "segmentation": rle} for i, c, b, a in boxes],  # fmt: skip
        "categories": [{"id": 0, "name": "car", "supercategory": "car"},
                       {"id": 1, "name": "bicycle", "supercategory": "bicycle"}],  # fmt: skip
    }
    path = tmp_path / "fake_data.json"
    path.write_text(json.dumps(data))
    return str(path)


def _pred():
    masks = np.zeros((4, 10, 10), dtype=np.uint8)
    masks[:, :5, :5] = 1
    return {"bboxes": torch.tensor([[50, 60, 70, 80], [100, 120, 130, 150], [150, 160, 190, 200],
                                    [250, 260, 350, 360]]),  # fmt: skip
            "scores": torch.tensor([1.0, 0.98, 0.96, 0.95], dtype=torch.float64),
            "labels": torch.tensor([0, 0, 1, 0]), "masks": torch.from_numpy(masks)}  # fmt: skip


def _run(metric, pred=None):
    metric.dataset_meta = {"classes": ["car", "bicycle"]}
    metric.process({}, [{"pred_instances": pred or _pred(), "img_id": 0, "ori_shape": (640, 640)}])
    return metric.evaluate(size=1)


def test_init(fake_json):
    with pytest.raises(KeyError, match="metric must be in"):
        CocoMetric(ann_file=fake_json, metric="unknown")


def test_evaluate(fake_json, tmp_path):
    prefix = f"{tmp_path}/test"
    assert _run(CocoMetric(ann_file=fake_json, classwise=False, outfile_prefix=prefix)) == TARGET_BBOX
    assert osp.isfile(f"{prefix}.bbox.json")
    res = _run(CocoMetric(ann_file=fake_json, metric=["bbox", "segm"], outfile_prefix=prefix))
    assert res == {**TARGET_BBOX, **TARGET_SEGM}
    assert osp.isfile(f"{prefix}.bbox.json") and osp.isfile(f"{prefix}.segm.json")
    with pytest.raises(KeyError, match='metric item .invalid. is not supported'):
        CocoMetric(ann_file=fake_json, metric_items=["invalid"])
    assert _run(CocoMetric(ann_file=fake_json, metric_items=["mAP_m"])) == {"coco/bbox_mAP_m": 1.0}


def test_classwise_evaluate(fake_json):
    res = _run(CocoMetric(ann_file=fake_json, metric="bbox", classwise=True))
    assert res == {**TARGET_BBOX, "coco/car_precision": 1.0, "coco/bicycle_precision": 1.0}


def test_manually_set_iou_thrs(fake_json):
    assert CocoMetric(ann_file=fake_json, metric="bbox", iou_thrs=[0.3, 0.6]).iou_thrs == [0.3, 0.6]


def test_evaluate_proposal(fake_json):
    res = _run(CocoMetric(ann_file=fake_json, metric="proposal"))
    assert res == {f"coco/{k}": 1.0 for k in ("AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")}


def test_empty_results(fake_json):
    empty = {"bboxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros(0, 10, 10, dtype=torch.uint8)}  # fmt: skip
    assert _run(CocoMetric(ann_file=fake_json, metric="bbox"), empty) == {}


def test_format_only(fake_json, tmp_path):
    with pytest.raises(ValueError, match="outfile_prefix"):
        CocoMetric(ann_file=fake_json, format_only=True, outfile_prefix=None)
    res = _run(CocoMetric(ann_file=fake_json, metric="bbox", format_only=True, outfile_prefix=f"{tmp_path}/test"))
    assert res == {} and osp.exists(f"{tmp_path}/test.bbox.json")
