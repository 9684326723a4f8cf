"""Functional detection ops: tensor in, tensor out; no modules, no config.

Conventions: boxes are ``Tensor[N, 4]`` absolute ``(x1, y1, x2, y2)`` in pixels; RoIs are
``Tensor[K, 5]`` ``(batch_index, x1, y1, x2, y2)``. Every op matches mmcv 2.1 / mmdet 3.3
(see each module's docstring for the exact arithmetic, the tie rules and what degenerate
boxes do); bad input raises ``TypeError``/``ValueError`` naming the argument, and NaN or
inf in boxes, RoIs or scores raises ``ValueError``.
"""

from visdet.ops.bbox_overlaps import bbox_overlaps
from visdet.ops.multiclass_nms import multiclass_nms
from visdet.ops.nms import batched_nms, nms, soft_nms
from visdet.ops.nms_options import NMSOptions
from visdet.ops.roi_align import roi_align

__all__ = ["NMSOptions", "batched_nms", "bbox_overlaps", "multiclass_nms", "nms", "roi_align", "soft_nms"]
