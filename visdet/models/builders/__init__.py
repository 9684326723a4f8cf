"""Config boundary: build visdet models from mmdet-shaped config dicts."""

from visdet.models.builders.faster_rcnn import build_faster_rcnn
from visdet.models.builders.presets import faster_rcnn_r50_fpn

__all__ = ["build_faster_rcnn", "faster_rcnn_r50_fpn"]
