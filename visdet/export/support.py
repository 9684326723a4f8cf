"""Which detectors export to ONNX, and for the others the component that blocks them.

Exported: ``FasterRCNN`` (a ``TwoStageDetector`` with an ``RPNHead`` of sigmoid scores, a
``StandardRoIHead`` without a mask branch, a ``SingleRoIExtractor`` of average-pooling
``RoIAlign(aligned=True)`` layers with square outputs, a box head of the ``ConvFCBBoxHead``
family, ``DeltaXYWHBBoxCoder`` box coders, greedy NMS with ``offset=0``). Everything else
is refused by :func:`check_exportable` with a message naming the blocking component.
"""

from __future__ import annotations

from torch import nn

from visdet.models.task_modules.delta_xywh_coder import DeltaXYWHBBoxCoder


class ExportError(ValueError):
    """The model cannot be exported; the message names what blocks it."""


def _nms_blocker(where: str, options: object) -> str | None:
    if getattr(options, "soft", False):
        return f"{where} is soft-NMS (ONNX NonMaxSuppression is greedy)"
    if getattr(options, "offset", 0) != 0:
        return f"{where} has offset=1 (ONNX NonMaxSuppression computes widths as x2 - x1)"
    if getattr(options, "class_agnostic", False):
        return f"{where} is class-agnostic (not supported by the export yet)"
    if getattr(options, "score_threshold", 0) > 0:
        return f"{where} has a score_threshold (not supported by the export yet)"
    return None


def blockers(model: nn.Module) -> list[str]:
    """Why ``model`` cannot be exported: one line per blocking component (empty: it can)."""
    from visdet.models.dense_heads.rpn_head import RPNHead
    from visdet.models.detectors.two_stage import TwoStageDetector
    from visdet.models.roi_heads.convfc_bbox_head import ConvFCBBoxHead
    from visdet.models.roi_heads.roi_align_layer import RoIAlign
    from visdet.models.roi_heads.single_roi_extractor import SingleRoIExtractor
    from visdet.models.roi_heads.standard_roi_head import StandardRoIHead

    name = type(model).__name__
    if not isinstance(model, TwoStageDetector):
        return [f"{name} is not a two-stage detector; only Faster R-CNN (FasterRCNN) exports so far"]
    found = []
    rpn, roi = model.rpn_head, model.roi_head
    if type(rpn) is not RPNHead:
        found.append(f"rpn_head is {type(rpn).__name__} (only RPNHead exports)")
    else:
        if not rpn.use_sigmoid_cls:
            found.append("rpn_head uses softmax scores (only sigmoid exports)")
        if type(rpn.bbox_coder) is not DeltaXYWHBBoxCoder or rpn.bbox_coder.add_ctr_clamp:
            found.append(f"rpn_head.bbox_coder is {type(rpn.bbox_coder).__name__} (DeltaXYWHBBoxCoder exports)")
        if type(rpn.prior_generator).__name__ != "AnchorGenerator":
            found.append(f"rpn_head.prior_generator is {type(rpn.prior_generator).__name__}")
        blocker = _nms_blocker("rpn_head.test_cfg.nms", rpn.test_proposals.nms.options())
        if blocker:
            found.append(blocker)
    if type(roi) is not StandardRoIHead:
        found.append(f"roi_head is {type(roi).__name__} (only StandardRoIHead exports)")
        return found
    if roi.with_mask:
        found.append("roi_head has a mask branch (mask export is not written yet)")
    extractor = roi.bbox_roi_extractor
    if type(extractor) is not SingleRoIExtractor:
        found.append(f"roi_head.bbox_roi_extractor is {type(extractor).__name__}")
    else:
        for level, layer in enumerate(extractor.roi_layers):
            if type(layer) is not RoIAlign:
                found.append(f"roi_layers[{level}] is {type(layer).__name__} (RoIAlign exports)")
            elif layer.pool_mode != "avg" or not layer.aligned or layer.output_size[0] != layer.output_size[1]:
                found.append(
                    f"roi_layers[{level}]: pool_mode={layer.pool_mode!r}, aligned={layer.aligned}, output_size="
                    f"{layer.output_size} (ONNX RoiAlign matches mmcv for avg, aligned=True, square outputs)"
                )
    head = roi.bbox_head
    if not isinstance(head, ConvFCBBoxHead):
        found.append(f"roi_head.bbox_head is {type(head).__name__} (the ConvFCBBoxHead family exports)")
    else:
        if not head.with_cls or not head.with_reg:
            found.append("roi_head.bbox_head lacks a classifier or a regressor")
        if type(head.bbox_coder) is not DeltaXYWHBBoxCoder or head.bbox_coder.add_ctr_clamp:
            found.append(f"roi_head.bbox_head.bbox_coder is {type(head.bbox_coder).__name__}")
    if roi.test_cfg is None:
        found.append("roi_head.test_cfg is None (raw per-class outputs, no NMS)")
    else:
        blocker = _nms_blocker("roi_head.test_cfg.nms", roi.test_cfg.nms.options())
        if blocker:
            found.append(blocker)
    return found


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`ExportError` naming every blocking component, unless ``model`` exports."""
    found = blockers(model)
    if found:
        raise ExportError(f"{type(model).__name__} cannot be exported to ONNX: " + "; ".join(found))
