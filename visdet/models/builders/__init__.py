"""Config boundary: build visdet models from mmdet-shaped config dicts."""

from visdet.models.builders.faster_rcnn import build_faster_rcnn

__all__ = ["build_faster_rcnn"]
