"""ONNX export of detectors, post-processing included (see :mod:`visdet.export.onnx_export`)."""

from visdet.export.onnx_export import graph_inputs, to_onnx
from visdet.export.support import ExportError, blockers, check_exportable

__all__ = ["ExportError", "blockers", "check_exportable", "graph_inputs", "to_onnx"]
