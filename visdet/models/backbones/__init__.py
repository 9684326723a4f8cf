"""Backbones: image Tensor[N, 3, H, W] -> tuple of multi-scale feature maps."""

from visdet.models.backbones.cspnext import CSPNeXt
from visdet.models.backbones.resnet import ResNet, ResNetV1d
from visdet.models.backbones.resnet_blocks import BasicBlock, Bottleneck
from visdet.models.backbones.resnext import ResNeXt
from visdet.models.backbones.swin import SwinTransformer
from visdet.models.backbones.swin_blocks import SwinBlock, SwinBlockSequence
from visdet.models.backbones.swin_converter import swin_converter

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CSPNeXt",
    "ResNeXt",
    "ResNet",
    "ResNetV1d",
    "SwinBlock",
    "SwinBlockSequence",
    "SwinTransformer",
    "swin_converter",
]
