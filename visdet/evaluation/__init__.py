"""Evaluation: the COCO metric on pycocotools."""

from visdet.evaluation.coco_metric import CocoMetric

__all__ = ["CocoMetric"]
