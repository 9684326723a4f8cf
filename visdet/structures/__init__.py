"""Typed containers shared by models, data and evaluation."""

from visdet.structures.boxes import boxes_to_rois, scale_boxes
from visdet.structures.image_meta import ImageMeta, as_image_meta, image_metas
from visdet.structures.instances import Instances, empty_detections
from visdet.structures.settings import Settings

__all__ = [
    "ImageMeta",
    "Instances",
    "Settings",
    "as_image_meta",
    "boxes_to_rois",
    "empty_detections",
    "image_metas",
    "scale_boxes",
]
