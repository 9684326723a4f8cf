"""``AnchorFreeHead``: the conv towers of anchor-free dense heads (mmdet's ``AnchorFreeHead``; FCOS builds on it).

Shapes: L levels ``[B, C_in, H_l, W_l]``, one point per cell, K classes. ``forward_single``
returns ``cls_score [B, C, H, W]`` (C = K with a sigmoid loss, K + 1 with softmax),
``bbox_pred [B, 4, H, W]`` and the two tower features (subclasses read them);
``forward`` returns the per-level scores and box maps.

Attribute names are mmdet's: ``cls_convs`` and ``reg_convs`` (``stacked_convs`` 3x3
``ConvModule`` each, bias per ``conv_bias``), ``conv_cls`` and ``conv_reg`` (3x3 convs),
``prior_generator`` (a :class:`~visdet.models.task_modules.MlvlPointGenerator` on
``strides``). Checkpoints written before mmdet's version 1 of the head (``fcos_cls``,
``fcos_reg``, ``fcos_centerness``) load under the new names, as in mmdet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from visdet.models.dense_heads.base_dense_head import BaseDenseHead
from visdet.models.layers import ConvModule, bias_init_with_prob, normal_init
from visdet.models.task_modules import MlvlPointGenerator
from visdet.models.task_modules.protocols import BoxCoder

# mmdet initialises every Conv2d of the head from N(0, 0.01) and the classifier's bias at
# this prior probability (its default init_cfg; ConvModule's own init does not run after it).
PRIOR_PROB = 0.01
INIT_STD = 0.01
# mmdet's old predictor names, by suffix of the first key part after the head's prefix
_LEGACY_SUFFIXES = (("cls", "conv_cls"), ("reg", "conv_reg"), ("centerness", "conv_centerness"))


class AnchorFreeHead(BaseDenseHead):
    """Class scores and box regressions per point; see the module docstring.

    Args:
        num_classes: K object classes (background label K).
        in_channels: Channels of the pyramid features.
        feat_channels: Channels of the stacked convs.
        stacked_convs: 3x3 ``ConvModule`` layers in each tower (``>= 0``).
        strides: Stride of each level (int or ``(w, h)``).
        conv_bias: ``"auto"`` (bias only without a norm) or a bool, for the tower convs.
        loss_cls: Classification loss; its ``use_sigmoid`` picks K channels (else K + 1).
        loss_bbox: Regression loss.
        bbox_coder: Decodes the regressions against the points.
        conv_cfg: Conv config of the tower convs (``None``: ``nn.Conv2d``).
        norm_cfg: Norm config of the tower convs (``None``: no norm).
        test_cfg: Test settings (``nms_pre``, ``score_thr``, ``nms``, ...); needed to predict.
    """

    _version = 1

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        strides: Sequence[int | Sequence[int]] = (4, 8, 16, 32, 64),
        conv_bias: bool | str = "auto",
        loss_cls: nn.Module,
        loss_bbox: nn.Module,
        bbox_coder: BoxCoder,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: Mapping[str, Any] | None = None,
        test_cfg: Any = None,
    ) -> None:
        super().__init__()
        if stacked_convs < 0:
            raise ValueError(f"stacked_convs must be >= 0, got {stacked_convs}")
        if conv_bias != "auto" and not isinstance(conv_bias, bool):
            raise ValueError(f"conv_bias must be 'auto' or a bool, got {conv_bias!r}")
        self.num_classes = num_classes
        self.use_sigmoid_cls = bool(getattr(loss_cls, "use_sigmoid", False))
        self.cls_out_channels = num_classes if self.use_sigmoid_cls else num_classes + 1
        if self.cls_out_channels <= 0:
            raise ValueError(f"num_classes={num_classes} is too small")
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.stacked_convs = stacked_convs
        self.strides = strides
        self.conv_bias = conv_bias
        self.loss_cls = loss_cls
        self.loss_bbox = loss_bbox
        self.bbox_coder = bbox_coder
        self.prior_generator = MlvlPointGenerator(strides)
        self.num_base_priors = self.prior_generator.num_base_priors[0]
        self.test_cfg = test_cfg
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.cls_convs = self._tower()
        self.reg_convs = self._tower()
        self.conv_cls = nn.Conv2d(feat_channels, self.cls_out_channels, 3, padding=1)
        self.conv_reg = nn.Conv2d(feat_channels, 4, 3, padding=1)

    def _tower(self) -> nn.ModuleList:
        return nn.ModuleList(
            ConvModule(in_channels=self.in_channels if i == 0 else self.feat_channels, out_channels=self.feat_channels,
                       kernel_size=3, stride=1, padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                       bias=self.conv_bias)  # fmt: skip
            for i in range(self.stacked_convs)
        )

    def init_weights(self) -> None:
        """Mmdet's default init: every Conv2d of the head N(0, 0.01), zero bias; ``conv_cls``'s bias at the prior."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, std=INIT_STD)
        normal_init(self.conv_cls, std=INIT_STD, bias=bias_init_with_prob(PRIOR_PROB))

    def forward_single(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``cls_score [B, C, H, W]``, ``bbox_pred [B, 4, H, W]`` and the two tower features of one level."""
        cls_feat = x
        reg_feat = x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        cls_score = self.conv_cls(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return cls_score, self.conv_reg(reg_feat), cls_feat, reg_feat

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], ...]:
        """Per-level ``cls_scores`` and ``bbox_preds`` (the tower features are dropped, as mmdet)."""
        return super().forward(feats)[:2]

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Rename the predictors of checkpoints without a version (``fcos_cls`` -> ``conv_cls``, ...)."""
        if local_metadata.get("version") is None:
            for key in [k for k in state_dict if k.startswith(prefix)]:
                parts = key[len(prefix):].split(".")
                if len(parts) < 2:
                    continue
                for suffix, name in _LEGACY_SUFFIXES:
                    if parts[0].endswith(suffix):
                        state_dict[prefix + ".".join([name, *parts[1:]])] = state_dict.pop(key)
                        break
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)  # fmt: skip
