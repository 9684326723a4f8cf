"""Backbones: image Tensor[N, 3, H, W] -> tuple of multi-scale feature maps."""

from visdet.models.backbones.resnet import ResNet, ResNetV1d
from visdet.models.backbones.resnet_blocks import BasicBlock, Bottleneck
from visdet.models.backbones.resnext import ResNeXt

__all__ = ["BasicBlock", "Bottleneck", "ResNeXt", "ResNet", "ResNetV1d"]
