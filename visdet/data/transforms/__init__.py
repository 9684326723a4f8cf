"""Data transforms in mmdet's shape: each is a callable on a ``results`` dict."""

from visdet.data.transforms.compose import Compose
from visdet.data.transforms.crop import RandomCrop
from visdet.data.transforms.filter_annotations import FilterAnnotations
from visdet.data.transforms.flip import RandomFlip
from visdet.data.transforms.formatting import PackDetInputs
from visdet.data.transforms.hsv_aug import YOLOXHSVRandomAug
from visdet.data.transforms.loading import LoadAnnotations, LoadImageFromFile
from visdet.data.transforms.mixup import CachedMixUp
from visdet.data.transforms.mosaic import CachedMosaic
from visdet.data.transforms.pad import Pad
from visdet.data.transforms.photometric import PhotoMetricDistortion
from visdet.data.transforms.random_choice import RandomChoice
from visdet.data.transforms.resize import RandomChoiceResize, RandomResize, Resize

__all__ = [
    "CachedMixUp",
    "CachedMosaic",
    "Compose",
    "FilterAnnotations",
    "LoadAnnotations",
    "LoadImageFromFile",
    "PackDetInputs",
    "Pad",
    "PhotoMetricDistortion",
    "RandomChoice",
    "RandomChoiceResize",
    "RandomCrop",
    "RandomFlip",
    "RandomResize",
    "Resize",
    "YOLOXHSVRandomAug",
]
