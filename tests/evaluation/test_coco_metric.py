import json
import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from visdet.evaluation import CocoMetric


def _rle(seg, h, w):
    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(seg, h, w)
    return seg


def _perfect_samples(synth, with_masks=False):
    """Predict every non-crowd ground-truth object exactly (labels by the file's category order)."""
    cat_ids = [c["id"] for c in synth.data["categories"]]
    samples = []
    for img in synth.data["images"]:
        h, w = img["height"], img["width"]
        anns = [a for a in synth.data["annotations"] if a["image_id"] == img["id"] and not a["iscrowd"]]
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        boxes = torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4)
        pred = {"bboxes": boxes, "scores": torch.linspace(0.9, 0.8, len(anns)),
                "labels": torch.tensor([cat_ids.index(a["category_id"]) for a in anns], dtype=torch.int64)}  # fmt: skip
        if with_masks:
            rles = [_rle(a["segmentation"], h, w) for a in anns]
            pred["masks"] = torch.from_numpy(np.stack([mask_utils.decode(r) for r in rles]).astype(bool)) \
                if rles else torch.zeros(0, h, w, dtype=torch.bool)
        samples.append({"img_id": img["id"], "ori_shape": (h, w), "pred_instances": pred})
    return samples


def _metric(synth, **kw):
    metric = CocoMetric(ann_file=str(synth.ann_file), **kw)
    metric.dataset_meta = {"classes": synth.classes}
    return metric


def test_perfect_boxes_and_masks_score_one(synth):
    metric = _metric(synth, metric=["bbox", "segm"], classwise=True)
    metric.process({}, _perfect_samples(synth, with_masks=True))
    res = metric.evaluate(size=4)
    assert res["coco/bbox_mAP"] == 1.0 and res["coco/bbox_mAP_50"] == 1.0
    assert res["coco/segm_mAP"] == 1.0
    assert res["coco/dog_precision"] == 1.0 and res["coco/cat_precision"] == 1.0
    assert math.isnan(res["coco/bird_precision"])  # no ground truth for bird
    assert metric.stats["bbox"].shape == (12,)
    assert metric.results == []  # reset after evaluate


def test_shifted_boxes_lower_the_score(synth):
    samples = _perfect_samples(synth)
    for s in samples:
        s["pred_instances"]["bboxes"] = s["pred_instances"]["bboxes"] + 3.0
    metric = _metric(synth)
    metric.process({}, samples)
    assert 0.0 <= metric.evaluate()["coco/bbox_mAP"] < 1.0


def test_proposal_metric_reports_recall(synth):
    metric = _metric(synth, metric="proposal", proposal_nums=(1, 10, 100))
    metric.process({}, _perfect_samples(synth))
    res = metric.evaluate()
    assert set(res) == {f"coco/{k}" for k in ("AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000")}
    assert res["coco/AR@1000"] == 1.0


def test_format_only_writes_loadable_json(synth, tmp_path):
    prefix = str(tmp_path / "out" / "res")
    (tmp_path / "out").mkdir()
    metric = _metric(synth, metric=["bbox", "segm"], format_only=True, outfile_prefix=prefix)
    metric.process({}, _perfect_samples(synth, with_masks=True))
    assert metric.evaluate() == {}
    gt = COCO(str(synth.ann_file))
    for kind in ("bbox", "segm"):
        preds = json.loads(open(f"{prefix}.{kind}.json").read())
        assert gt.loadRes(preds).getImgIds()
        assert {p["category_id"] for p in preds} <= {7, 3, 12}


def test_empty_predictions_give_no_result(synth):
    samples = _perfect_samples(synth)
    for s in samples:
        s["pred_instances"] = {k: v[:0] for k, v in s["pred_instances"].items()}
    metric = _metric(synth)
    metric.process({}, samples)
    assert metric.evaluate() == {}


def test_prediction_json_with_unknown_image_id(synth, tmp_path):
    path = tmp_path / "preds.bbox.json"
    path.write_text(json.dumps([{"image_id": 424242, "bbox": [1, 1, 2, 2], "score": 0.5, "category_id": 7}]))
    with pytest.raises(ValueError, match=r"preds\.bbox\.json: prediction #0 has image_id 424242"):
        _metric(synth).evaluate_result_files({"bbox": str(path)})


def test_prediction_json_not_json(synth, tmp_path):
    path = tmp_path / "preds.bbox.json"
    path.write_text("[{")
    with pytest.raises(ValueError, match=r"preds\.bbox\.json: not a JSON file"):
        _metric(synth).evaluate_result_files({"bbox": str(path)})


def test_label_out_of_range_names_image(synth):
    samples = _perfect_samples(synth)
    samples[0]["pred_instances"]["labels"][0] = 5
    metric = _metric(synth)
    metric.process({}, samples)
    with pytest.raises(ValueError, match="image 1: label 5"):
        metric.evaluate()


def test_argument_errors(synth):
    with pytest.raises(KeyError, match="metric"):
        CocoMetric(ann_file=str(synth.ann_file), metric="keypoints")
    with pytest.raises(ValueError, match="outfile_prefix"):
        CocoMetric(ann_file=str(synth.ann_file), format_only=True)
    with pytest.raises(KeyError, match="mAP_xl"):
        CocoMetric(ann_file=str(synth.ann_file), metric_items=["mAP_xl"])
    metric = CocoMetric(ann_file=str(synth.ann_file))
    metric.process({}, _perfect_samples(synth))
    with pytest.raises(ValueError, match="dataset_meta"):
        metric.evaluate()
