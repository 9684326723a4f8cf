"""Small reusable layers and their builders from mmdet-style config dicts."""

from visdet.models.layers.activation import Swish, build_activation_layer
from visdet.models.layers.cdn_query_generator import CdnQueryGenerator
from visdet.models.layers.channel_attention import ChannelAttention
from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.csp_blocks import CSPNeXtBlock, DarknetBottleneck
from visdet.models.layers.csp_layer import CSPLayer
from visdet.models.layers.deformable_detr_layers import (
    DeformableDetrTransformerDecoderLayer,
    DeformableDetrTransformerEncoderLayer,
)
from visdet.models.layers.deformable_detr_transformer import (
    DeformableDetrTransformerDecoder,
    DeformableDetrTransformerEncoder,
)
from visdet.models.layers.depthwise_separable_conv_module import DepthwiseSeparableConvModule
from visdet.models.layers.detr_mlp import MLP, coordinate_to_encoding
from visdet.models.layers.dino_transformer import DinoTransformerDecoder
from visdet.models.layers.drop import DropPath, drop_path
from visdet.models.layers.ffn import FFN
from visdet.models.layers.multi_scale_deform_attn import MultiScaleDeformableAttention
from visdet.models.layers.multihead_attention import MultiheadAttention
from visdet.models.layers.norm import build_norm_layer, norm_abbreviation
from visdet.models.layers.patch_embed import AdaptivePadding, PatchEmbed
from visdet.models.layers.patch_merging import PatchMerging
from visdet.models.layers.positional_encoding import LearnedPositionalEncoding, SinePositionalEncoding
from visdet.models.layers.res_layer import ResLayer
from visdet.models.layers.scale import Scale
from visdet.models.layers.spp_bottleneck import SPPBottleneck
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
    "CSPLayer",
    "CdnQueryGenerator",
    "CSPNeXtBlock",
    "ChannelAttention",
    "ConvModule",
    "DarknetBottleneck",
    "DeformableDetrTransformerDecoder",
    "DeformableDetrTransformerDecoderLayer",
    "DeformableDetrTransformerEncoder",
    "DeformableDetrTransformerEncoderLayer",
    "DepthwiseSeparableConvModule",
    "DinoTransformerDecoder",
    "DropPath",
    "FFN",
    "LearnedPositionalEncoding",
    "MLP",
    "MultiScaleDeformableAttention",
    "MultiheadAttention",
    "PatchEmbed",
    "PatchMerging",
    "ResLayer",
    "SPPBottleneck",
    "Scale",
    "SinePositionalEncoding",
    "Swish",
    "bias_init_with_prob",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "constant_init",
    "coordinate_to_encoding",
    "drop_path",
    "kaiming_init",
    "norm_abbreviation",
    "normal_init",
    "trunc_normal_init",
    "xavier_init",
]
