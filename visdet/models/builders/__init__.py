"""Deprecated import path of the per-architecture builders; use :mod:`visdet.build`.

Kept only because the ported tests in ``parity/ported`` import it (they are outside this
change); every function is a call into the config boundary, :mod:`visdet.build`. This
package belongs to the build layer, not to ``visdet.models`` (the layer check says so).
"""

from visdet.models.builders.faster_rcnn import build_faster_rcnn, faster_rcnn_r50_fpn

__all__ = ["build_faster_rcnn", "faster_rcnn_r50_fpn"]
