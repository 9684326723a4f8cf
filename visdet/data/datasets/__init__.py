"""Detection datasets."""

from visdet.data.datasets.base_det_dataset import BaseDetDataset
from visdet.data.datasets.coco import CocoAnnotationWarning, CocoDataset, read_coco_json
from visdet.data.datasets.coco_classes import COCO_CLASSES

__all__ = ["COCO_CLASSES", "BaseDetDataset", "CocoAnnotationWarning", "CocoDataset", "read_coco_json"]
