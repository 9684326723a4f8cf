"""Whole detectors: backbone, neck and heads with ``predict`` and ``loss``."""

from visdet.models.detectors.base import Detector
from visdet.models.detectors.cascade_rcnn import CascadeRCNN
from visdet.models.detectors.deformable_detr import DeformableDETR
from visdet.models.detectors.detection_transformer import DetectionTransformer
from visdet.models.detectors.dino import DINO
from visdet.models.detectors.faster_rcnn import FasterRCNN
from visdet.models.detectors.fcos import FCOS
from visdet.models.detectors.mask_rcnn import MaskRCNN
from visdet.models.detectors.retinanet import RetinaNet
from visdet.models.detectors.rpn import RPN
from visdet.models.detectors.rtmdet import RTMDet
from visdet.models.detectors.single_stage import SingleStageDetector
from visdet.models.detectors.two_stage import TwoStageDetector

__all__ = [
    "RPN",
    "RTMDet",
    "CascadeRCNN",
    "DeformableDETR",
    "DetectionTransformer",
    "DINO",
    "FCOS",
    "Detector",
    "FasterRCNN",
    "MaskRCNN",
    "RetinaNet",
    "SingleStageDetector",
    "TwoStageDetector",
]
