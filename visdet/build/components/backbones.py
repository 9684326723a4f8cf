"""Backbone schemas: ``ResNet``, ``ResNetV1d``, ``ResNeXt``, ``SwinTransformer``, ``CSPNeXt``.

mmdet's keywords and defaults.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, InitConfig, init_field
from visdet.build.components.common import ActConfig, NormConfig
from visdet.build.registry import registry
from visdet.models.backbones import CSPNeXt, ResNet, ResNetV1d, ResNeXt, SwinTransformer

NOT_IMPLEMENTED = "not implemented in visdet (must be null)"
SMALL_RESNET = {"depth": 18, "base_channels": 4}


class _ResNetFields(Component):
    """The fields of the ResNet family."""

    depth: Literal[18, 34, 50, 101, 152]
    in_channels: int = Field(3, ge=1)
    stem_channels: int | None = Field(None, ge=1)
    base_channels: int = Field(64, ge=1)
    num_stages: int = Field(4, ge=1, le=4)
    strides: list[int] = [1, 2, 2, 2]
    dilations: list[int] = [1, 1, 1, 1]
    out_indices: list[int] = [0, 1, 2, 3]
    style: Literal["pytorch", "caffe"] = "pytorch"
    deep_stem: bool = False
    avg_down: bool = False
    frozen_stages: int = Field(-1, ge=-1, le=4)
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: NormConfig = NormConfig()
    norm_eval: bool = True
    dcn: None = Field(None, description=f"deformable convolution: {NOT_IMPLEMENTED}")
    stage_with_dcn: list[bool] = [False, False, False, False]
    plugins: None = Field(None, description=f"ResNet plugins: {NOT_IMPLEMENTED}")
    with_cp: bool = False
    zero_init_residual: bool = True
    pretrained: None = Field(None, description="deprecated in mmdet; load a checkpoint into the built model")
    init_cfg: InitConfig = init_field()


@registry("backbone").register
class ResNetConfig(_ResNetFields):
    """``ResNet`` (depth 18 to 152)."""

    type: Literal["ResNet"]
    example: ClassVar[dict[str, Any]] = {"type": "ResNet", **SMALL_RESNET}

    def build(self) -> ResNet:
        """The backbone."""
        return ResNet(**self.arguments())


@registry("backbone").register
class ResNetV1dConfig(_ResNetFields):
    """``ResNetV1d``: ResNet with a deep stem and average-pool downsampling."""

    type: Literal["ResNetV1d"]
    deep_stem: Literal[True] = True
    avg_down: Literal[True] = True
    example: ClassVar[dict[str, Any]] = {"type": "ResNetV1d", **SMALL_RESNET}

    def build(self) -> ResNetV1d:
        """The backbone."""
        return ResNetV1d(**self.arguments("deep_stem", "avg_down"))


@registry("backbone").register
class ResNeXtConfig(_ResNetFields):
    """``ResNeXt``: ResNet with grouped 3x3 convolutions (depth 50, 101 or 152)."""

    type: Literal["ResNeXt"]
    depth: Literal[50, 101, 152]
    groups: int = Field(1, ge=1)
    base_width: int = Field(4, ge=1)
    example: ClassVar[dict[str, Any]] = {"type": "ResNeXt", "depth": 50, "base_channels": 4, "groups": 2,
                                         "base_width": 2}  # fmt: skip

    def build(self) -> ResNeXt:
        """The backbone."""
        return ResNeXt(**self.arguments())


class SwinNormConfig(NormConfig):
    """``norm_cfg`` of Swin: as mmdet's default ``{"type": "LN"}`` (``requires_grad`` unset means True)."""

    requires_grad: bool | None = None


@registry("backbone").register
class SwinTransformerConfig(Component):
    """``SwinTransformer`` (Swin-T by default: embed_dims 96, depths 2-2-6-2, window 7)."""

    type: Literal["SwinTransformer"]
    pretrain_img_size: int | list[int] = 224
    in_channels: int = Field(3, ge=1)
    embed_dims: int = Field(96, ge=1)
    patch_size: int = Field(4, ge=1)
    window_size: int = Field(7, ge=1)
    mlp_ratio: int = Field(4, ge=1)
    depths: list[int] = Field([2, 2, 6, 2], min_length=1)
    num_heads: list[int] = Field([3, 6, 12, 24], min_length=1)
    strides: list[int] = [4, 2, 2, 2]
    out_indices: list[int] = [0, 1, 2, 3]
    qkv_bias: bool = True
    qk_scale: float | None = None
    patch_norm: bool = True
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)
    attn_drop_rate: float = Field(0.0, ge=0.0, lt=1.0)
    drop_path_rate: float = Field(0.1, ge=0.0, lt=1.0)
    use_abs_pos_embed: bool = False
    act_cfg: ActConfig = ActConfig(type="GELU")
    norm_cfg: SwinNormConfig = SwinNormConfig(type="LN")
    with_cp: bool = False
    pretrained: str | None = Field(
        None, description="deprecated; mmdet 3.3 ignores it for Swin (init_cfg overwrites it), and so does visdet")
    convert_weights: bool = Field(
        False, description="the Pretrained checkpoint has the original Swin naming (swin_converter renames it)"
    )
    frozen_stages: int = Field(-1, ge=-1)
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "SwinTransformer", "embed_dims": 8, "depths": [2, 1],
                                         "num_heads": [1, 2], "strides": [4, 2], "out_indices": [0, 1],
                                         "window_size": 3, "drop_path_rate": 0.0}  # fmt: skip

    def build(self) -> SwinTransformer:
        """The backbone (``init_cfg``/``pretrained`` are not passed: weights come from load_checkpoint)."""
        return SwinTransformer(**self.arguments())


class CSPNormConfig(NormConfig):
    """``norm_cfg`` of CSPNeXt/CSPNeXtPAFPN: mmdet's default is BN, momentum 0.03, eps 0.001, no ``requires_grad``.

    RTMDet's configs write ``dict(type='SyncBN')``, which visdet builds as ``nn.SyncBatchNorm``:
    plain batch norm without a process group (see ``visdet/models/layers/norm.py``).
    """

    requires_grad: bool | None = None


#: mmdet's default ``norm_cfg`` of the CSPNeXt family (``dict(type='BN', momentum=0.03, eps=0.001)``).
CSP_NORM_DEFAULT = CSPNormConfig(type="BN", momentum=0.03, eps=0.001)


@registry("backbone").register
class CSPNeXtConfig(Component):
    """``CSPNeXt`` (RTMDet's backbone; P5 with deepen/widen 1.0 is RTMDet-l's)."""

    type: Literal["CSPNeXt"]
    arch: Literal["P5", "P6"] = "P5"
    deepen_factor: float = Field(1.0, gt=0)
    widen_factor: float = Field(1.0, gt=0)
    out_indices: list[int] = Field([2, 3, 4], min_length=1)
    frozen_stages: int = Field(-1, ge=-1)
    use_depthwise: bool = False
    expand_ratio: float = Field(0.5, gt=0)
    arch_ovewrite: list[tuple[int, int, int, bool, bool]] | None = Field(
        None, description="mmdet's spelling: [in, out, num_blocks, add_identity, use_spp] per stage, replacing arch's"
    )
    spp_kernel_sizes: list[int] = Field([5, 9, 13], min_length=1)
    channel_attention: bool = True
    conv_cfg: dict[str, Any] | None = None
    norm_cfg: CSPNormConfig = CSP_NORM_DEFAULT
    act_cfg: ActConfig = ActConfig(type="SiLU")
    norm_eval: bool = False
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": 0.125}

    def build(self) -> CSPNeXt:
        """The backbone (``init_cfg`` is not passed: weights come from load_checkpoint)."""
        return CSPNeXt(**self.arguments())
