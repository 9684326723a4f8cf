"""Second-stage (RoI) modules: RoI feature extraction, box heads and the RoI head."""

from visdet.models.roi_heads.bbox_head import BBoxHead
from visdet.models.roi_heads.bbox_postprocess import RCNNTestConfig
from visdet.models.roi_heads.cascade_roi_head import CascadeRoIHead
from visdet.models.roi_heads.convfc_bbox_head import (
    ConvFCBBoxHead,
    Shared2FCBBoxHead,
    Shared4Conv1FCBBoxHead,
)
from visdet.models.roi_heads.fcn_mask_head import FCNMaskHead
from visdet.models.roi_heads.roi_align_layer import RoIAlign
from visdet.models.roi_heads.single_roi_extractor import SingleRoIExtractor
from visdet.models.roi_heads.standard_roi_head import StandardRoIHead

__all__ = [
    "BBoxHead",
    "CascadeRoIHead",
    "ConvFCBBoxHead",
    "FCNMaskHead",
    "RCNNTestConfig",
    "RoIAlign",
    "Shared2FCBBoxHead",
    "Shared4Conv1FCBBoxHead",
    "SingleRoIExtractor",
    "StandardRoIHead",
]
