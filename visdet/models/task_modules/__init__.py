"""Task modules: anchor generation, box coding, prior-to-gt assignment and sampling.

Each concept has its own module; the interfaces they share are ``typing.Protocol`` classes
in :mod:`visdet.models.task_modules.protocols`.
"""

from visdet.models.task_modules.anchor_generator import AnchorGenerator
from visdet.models.task_modules.assign_result import AssignResult
from visdet.models.task_modules.bbox_overlaps_2d import BboxOverlaps2D
from visdet.models.task_modules.delta_xywh_coder import DeltaXYWHBBoxCoder, bbox2delta, delta2bbox
from visdet.models.task_modules.distance_point_coder import DistancePointBBoxCoder, bbox2distance, distance2bbox
from visdet.models.task_modules.dynamic_soft_label_assigner import DynamicSoftLabelAssigner
from visdet.models.task_modules.hungarian_assigner import HungarianAssigner
from visdet.models.task_modules.match_costs import BBoxL1Cost, ClassificationCost, FocalLossCost, IoUCost
from visdet.models.task_modules.max_iou_assigner import MaxIoUAssigner
from visdet.models.task_modules.nms_config import NMSConfig
from visdet.models.task_modules.point_generator import MlvlPointGenerator
from visdet.models.task_modules.protocols import Assigner, BoxCoder, PriorGenerator, Sampler
from visdet.models.task_modules.pseudo_sampler import PseudoSampler
from visdet.models.task_modules.random_sampler import RandomSampler
from visdet.models.task_modules.sampling_result import SamplingResult

__all__ = [
    "AnchorGenerator",
    "AssignResult",
    "Assigner",
    "BBoxL1Cost",
    "BboxOverlaps2D",
    "BoxCoder",
    "ClassificationCost",
    "DeltaXYWHBBoxCoder",
    "DistancePointBBoxCoder",
    "DynamicSoftLabelAssigner",
    "FocalLossCost",
    "HungarianAssigner",
    "IoUCost",
    "MaxIoUAssigner",
    "MlvlPointGenerator",
    "NMSConfig",
    "PriorGenerator",
    "PseudoSampler",
    "RandomSampler",
    "Sampler",
    "SamplingResult",
    "bbox2delta",
    "bbox2distance",
    "delta2bbox",
    "distance2bbox",
]
