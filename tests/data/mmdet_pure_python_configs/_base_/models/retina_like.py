# A pure-Python (mmengine lazy_import) config written for visdet's tests.
import torch.nn as nn
from mmdet.models.backbones.resnet import ResNet
from mmdet.models.detectors.retinanet import RetinaNet
from mmdet.models.necks.fpn import FPN

norm = dict(type='BN', requires_grad=True)
model = dict(
    type=RetinaNet,
    backbone=dict(type=ResNet, depth=50, out_indices=(0, 1, 2, 3), norm_cfg=norm, act=nn.ReLU),
    neck=dict(type=FPN, in_channels=[256 * 2**i for i in range(4)], out_channels=256, num_outs=5),
)
