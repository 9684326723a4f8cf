"""Typed containers shared by models, data and evaluation."""

from visdet.structures.bitmap_masks import BitmapMasks
from visdet.structures.boxes import boxes_to_rois, scale_boxes, translate_boxes
from visdet.structures.image_meta import ImageMeta, as_image_meta, image_metas
from visdet.structures.instances import Instances, empty_detections
from visdet.structures.polygon_masks import PolygonMasks, polygon_to_bitmap
from visdet.structures.settings import Settings

__all__ = [
    "BitmapMasks",
    "ImageMeta",
    "Instances",
    "PolygonMasks",
    "Settings",
    "as_image_meta",
    "boxes_to_rois",
    "empty_detections",
    "image_metas",
    "polygon_to_bitmap",
    "scale_boxes",
    "translate_boxes",
]
