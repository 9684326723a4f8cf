"""Data: COCO datasets, transforms in mmdet's shape, collate, samplers, loaders."""

from visdet.data.collate import pseudo_collate
from visdet.data.data_sample import DetDataSample
from visdet.data.datasets import BaseDetDataset, CocoDataset
from visdet.data.loader import build_dataloader
from visdet.data.samplers import AspectRatioBatchSampler, DefaultSampler, InfiniteSampler
from visdet.data.transforms import Compose

__all__ = [
    "AspectRatioBatchSampler",
    "BaseDetDataset",
    "CocoDataset",
    "Compose",
    "DefaultSampler",
    "DetDataSample",
    "InfiniteSampler",
    "build_dataloader",
    "pseudo_collate",
]
