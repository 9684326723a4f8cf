"""Small reusable layers and their builders from mmdet-style config dicts."""

from visdet.models.layers.activation import build_activation_layer
from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.drop import DropPath, drop_path
from visdet.models.layers.ffn import FFN
from visdet.models.layers.norm import build_norm_layer, norm_abbreviation
from visdet.models.layers.patch_embed import AdaptivePadding, PatchEmbed
from visdet.models.layers.patch_merging import PatchMerging
from visdet.models.layers.res_layer import ResLayer
from visdet.models.layers.scale import Scale
from visdet.models.layers.weight_init import (
    bias_init_with_prob,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    xavier_init,
)

__all__ = [
    "AdaptivePadding",
    "ConvModule",
    "DropPath",
    "FFN",
    "PatchEmbed",
    "PatchMerging",
    "ResLayer",
    "Scale",
    "bias_init_with_prob",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "constant_init",
    "drop_path",
    "kaiming_init",
    "norm_abbreviation",
    "normal_init",
    "trunc_normal_init",
    "xavier_init",
]
