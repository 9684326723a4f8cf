"""Detection datasets."""

from visdet.data.datasets.base_det_dataset import BaseDetDataset, DataItemError
from visdet.data.datasets.coco import CocoAnnotationWarning, CocoDataset, check_coco_data, read_coco_json
from visdet.data.datasets.coco_classes import COCO_CLASSES

__all__ = [
    "COCO_CLASSES",
    "BaseDetDataset",
    "CocoAnnotationWarning",
    "CocoDataset",
    "DataItemError",
    "check_coco_data",
    "read_coco_json",
]
