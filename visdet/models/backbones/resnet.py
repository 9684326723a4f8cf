"""ResNet backbone (He et al. 2016) with mmdet 3.3's structure, names and init.

Shapes: image Tensor[N, in_channels, H, W] -> tuple of Tensor[N, C_i, H / s_i, W / s_i]
for each stage i in ``out_indices``, with s_i = 4 * prod(strides[1:i+1]) / ... as the
strides give (4, 8, 16, 32 by default) and C_i = base_channels * 2**i * expansion.

State-dict keys follow mmdet: ``conv1``/``bn1`` stem (or ``stem.<i>`` with
``deep_stem``), then ``layer1`` ... ``layer4`` of blocks ``layerK.<j>.conv1``,
``layerK.<j>.bn1``, ..., ``layerK.0.downsample.<i>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from visdet.models.backbones.resnet_blocks import STYLES, BasicBlock, Bottleneck
from visdet.models.layers.conv import build_conv_layer
from visdet.models.layers.norm import NormConfig, batch_norms_to_eval, build_norm_layer
from visdet.models.layers.res_layer import ResLayer
from visdet.models.layers.weight_init import constant_init, kaiming_init

#: mmdet's default ``norm_cfg`` for ResNet.
DEFAULT_NORM_CFG: Mapping[str, Any] = MappingProxyType({"type": "BN", "requires_grad": True})


class ResNet(nn.Module):
    """ResNet backbone returning the feature maps of the stages in ``out_indices``.

    Args:
        depth: One of 18, 34, 50, 101, 152.
        in_channels: Image channels.
        stem_channels: Stem output channels (default ``base_channels``).
        base_channels: Width of the first stage (64 in the paper).
        num_stages: Number of stages, 1 to 4.
        strides: Stride of the first block of each stage.
        dilations: Dilation of each stage.
        out_indices: Stages whose outputs are returned, in increasing order.
        style: ``"pytorch"`` (stride on the 3x3 conv) or ``"caffe"`` (on the first 1x1).
        deep_stem: Three 3x3 convs instead of the 7x7 stem conv (``stem.*`` keys).
        avg_down: Average-pool shortcut when downsampling (ResNet-D).
        frozen_stages: Stem and stages 1..frozen_stages get ``requires_grad=False`` and
            stay in eval mode; -1 freezes nothing.
        conv_cfg: Conv config (``None``: nn.Conv2d).
        norm_cfg: Norm config (mmdet dict such as ``{"type": "BN", "requires_grad": True}``
            or a callable ``num_features -> nn.Module``).
        norm_eval: Keep every batch-norm layer in eval mode (frozen running stats) when
            the model is in train mode.
        dcn: Must be ``None`` (not implemented).
        stage_with_dcn: Ignored unless ``dcn`` is given.
        plugins: Must be ``None`` (not implemented).
        with_cp: Gradient checkpointing in every block.
        zero_init_residual: ``init_weights`` zeroes the last norm of every block.
        pretrained: Must be ``None``; load checkpoints with visdet's checkpoint loader.
        init_cfg: ``None`` for mmdet's default init, or a ``Pretrained`` dict that is only
            recorded (``init_weights`` then refuses; the checkpoint loader reads it).
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        *,
        depth: int,
        in_channels: int = 3,
        stem_channels: int | None = None,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (0, 1, 2, 3),
        style: str = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig = DEFAULT_NORM_CFG,
        norm_eval: bool = True,
        dcn: Mapping[str, Any] | None = None,
        stage_with_dcn: Sequence[bool] = (False, False, False, False),
        plugins: Sequence[Mapping[str, Any]] | None = None,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        pretrained: str | None = None,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise ValueError(
                f"depth must be one of {sorted(self.arch_settings)} for {type(self).__name__}, got {depth!r}"
            )
        if dcn is not None:
            raise NotImplementedError("deformable convolution (dcn) is not implemented in visdet")
        if plugins is not None:
            raise NotImplementedError("ResNet plugins are not implemented in visdet")
        if pretrained is not None:
            raise NotImplementedError(
                "pretrained= is deprecated in mmdet and not supported; load the checkpoint into the built model instead"
            )
        if init_cfg is not None and init_cfg.get("type") != "Pretrained":
            raise NotImplementedError(f"init_cfg {dict(init_cfg)!r} is not supported")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be in 1..4, got {num_stages}")
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(
                f"strides and dilations need num_stages={num_stages} entries, got "
                f"strides={tuple(strides)} and dilations={tuple(dilations)}"
            )
        if not out_indices or max(out_indices) >= num_stages or min(out_indices) < 0:
            raise ValueError(
                f"out_indices must be non-empty stage indices below num_stages={num_stages}, got {tuple(out_indices)}"
            )
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")

        self.depth = depth
        self.in_channels = in_channels
        self.stem_channels = base_channels if stem_channels is None else stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = tuple(strides)
        self.dilations = tuple(dilations)
        self.out_indices = tuple(out_indices)
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.frozen_stages = frozen_stages
        self.conv_cfg = dict(conv_cfg) if isinstance(conv_cfg, Mapping) else conv_cfg
        self.norm_cfg = dict(norm_cfg) if isinstance(norm_cfg, Mapping) else norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.init_cfg = dict(init_cfg) if isinstance(init_cfg, Mapping) else init_cfg
        self.block, all_stage_blocks = self.arch_settings[depth]
        self.stage_blocks = all_stage_blocks[:num_stages]

        self._make_stem_layer(in_channels, self.stem_channels)
        self.res_layers: list[str] = []
        inplanes = self.stem_channels
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            res_layer = self.make_res_layer(
                block=self.block,
                inplanes=inplanes,
                planes=planes,
                num_blocks=num_blocks,
                stride=self.strides[i],
                dilation=self.dilations[i],
                style=style,
                avg_down=avg_down,
                with_cp=with_cp,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
            )
            inplanes = planes * self.block.expansion
            name = f"layer{i + 1}"
            self.add_module(name, res_layer)
            self.res_layers.append(name)
        self.feat_dim = self.block.expansion * base_channels * 2 ** (len(self.stage_blocks) - 1)
        self._freeze_stages()

    def make_res_layer(self, **kwargs: Any) -> ResLayer:
        """Build one stage; subclasses (ResNeXt) add block options here."""
        return ResLayer(**kwargs)

    @property
    def norm1(self) -> nn.Module:
        """The stem norm layer (without ``deep_stem``)."""
        return getattr(self, self.norm1_name)

    @property
    def out_channels(self) -> tuple[int, ...]:
        """Channels of each returned feature map."""
        return tuple(self.base_channels * 2**i * self.block.expansion for i in self.out_indices)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            half = stem_channels // 2
            widths = ((in_channels, half, 2), (half, half, 1), (half, stem_channels, 1))
            layers: list[nn.Module] = []
            for cin, cout, stride in widths:
                layers.append(
                    build_conv_layer(
                        self.conv_cfg,
                        in_channels=cin,
                        out_channels=cout,
                        kernel_size=3,
                        stride=stride,
                        padding=1,
                        bias=False,
                    )
                )
                layers.append(build_norm_layer(self.norm_cfg, cout)[1])
                layers.append(nn.ReLU(inplace=True))
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1 = build_conv_layer(
                self.conv_cfg,
                in_channels=in_channels,
                out_channels=stem_channels,
                kernel_size=7,
                stride=2,
                padding=3,
                bias=False,
            )
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _freeze_stages(self) -> None:
        # (modules set to eval, modules whose parameters stop requiring grad); as in
        # mmdet, the plain stem puts only its norm (not conv1) in eval mode.
        to_eval: list[nn.Module] = []
        to_freeze: list[nn.Module] = []
        if self.frozen_stages >= 0:
            if self.deep_stem:
                to_eval, to_freeze = [self.stem], [self.stem]
            else:
                to_eval, to_freeze = [self.norm1], [self.conv1, self.norm1]
        stages = [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        for module in to_eval + stages:
            module.eval()
        for module in to_freeze + stages:
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Initialise as mmdet does by default.

        He-normal (fan_out, relu) convs, norms weight 1 bias 0, and with
        ``zero_init_residual`` the last norm of each block zeroed. Convs are drawn in
        registration order, so the same seed gives mmdet's weights.
        """
        if self.init_cfg is not None:
            raise NotImplementedError(
                f"init_cfg {dict(self.init_cfg)!r}: load the checkpoint with visdet's "
                "checkpoint loader instead of init_weights()"
            )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                kaiming_init(module, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, (_BatchNorm, nn.GroupNorm)):
                constant_init(module, 1.0)
        if self.zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    constant_init(module.last_norm, 0.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the stem and stages.

        Args:
            x: Tensor[N, in_channels, H, W].

        Returns:
            One Tensor[N, C_i, H_i, W_i] per entry of ``out_indices``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        """Set train/eval mode; frozen stages (and with ``norm_eval`` all BNs) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            batch_norms_to_eval(self)
        return self


class ResNetV1d(ResNet):
    """ResNet-D ("Bag of Tricks"): deep 3x3 stem and average-pool shortcuts.

    Takes the same arguments as ``ResNet`` except ``deep_stem`` and ``avg_down``, which
    are fixed to ``True``.
    """

    def __init__(self, **kwargs: Any) -> None:
        for fixed in ("deep_stem", "avg_down"):
            if fixed in kwargs:
                raise TypeError(f"ResNetV1d fixes {fixed}=True; do not pass it")
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
