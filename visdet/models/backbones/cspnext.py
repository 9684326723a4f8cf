"""CSPNeXt, RTMDet's backbone (Lyu et al. 2022), with mmdet 3.3's structure, names and init.

Shapes: image Tensor[N, 3, H, W] -> one Tensor[N, C_i, H_i, W_i] per entry of
``out_indices``, where index 0 is the stem (stride 2) and index i >= 1 is ``stage<i>``
(stride 2**(i+1)): P5 has stages 1-4 (strides 4-32), P6 stages 1-5 (strides 4-64).
With w = ``widen_factor`` the stem has int(64 * w) channels and stage i
int(out_i * w), out_i = 128, 256, 512, 1024 (P5) or 128, 256, 512, 768, 1024 (P6); stage
i's CSP layer stacks max(round(n_i * ``deepen_factor``), 1) blocks, n_i = 3, 6, 6, 3
(P6: 3, 6, 6, 3, 3). Odd sizes round up at each stride-2 conv (padding 1).

State-dict keys, as mmdet's: ``stem.<0-2>.{conv,bn}.*`` (three 3x3 ``ConvModule``s),
``stage<i>.0.*`` (the stride-2 conv; ``depthwise_conv``/``pointwise_conv`` with
``use_depthwise``), in the last stage ``stage<i>.1.conv{1,2}.*`` (``SPPBottleneck``) and
then ``stage<i>.<1|2>.{main_conv,short_conv,final_conv,blocks.<j>,attention.fc}.*``
(``CSPLayer``). RTMDet's configs use ``norm_cfg=dict(type='SyncBN')``: visdet builds
``nn.SyncBatchNorm`` (see ``visdet/models/layers/norm.py``), which without an initialised
process group, as on CPU or in one process, runs plain batch norm and has ``BatchNorm2d``'s
keys, so mmdet's SyncBN checkpoints load as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from visdet.models.layers.activation import ActConfig
from visdet.models.layers.conv_module import ConvModule
from visdet.models.layers.csp_blocks import SILU_CFG, conv_module_class
from visdet.models.layers.csp_init import KAIMING_INIT_CFG, check_init_cfg, init_convs_as_mmdet
from visdet.models.layers.csp_layer import CSPLayer
from visdet.models.layers.norm import NormConfig, batch_norms_to_eval
from visdet.models.layers.spp_bottleneck import CSP_NORM_CFG, SPPBottleneck

#: One stage: (in_channels, out_channels, num_blocks, add_identity, use_spp) before widen/deepen.
StageSetting = tuple[int, int, int, bool, bool]


class CSPNeXt(nn.Module):
    """CSPNeXt backbone: a 3-conv stem, then stages of a stride-2 conv, (SPP,) and a CSP layer.

    Args:
        arch: ``"P5"`` (4 stages) or ``"P6"`` (5 stages).
        deepen_factor: Multiplies each stage's block count (rounded, at least 1).
        widen_factor: Multiplies every width (truncated to int).
        out_indices: Layers whose outputs are returned: 0 the stem, i the i-th stage.
        frozen_stages: The stem (0) and stages 1..frozen_stages stay in eval mode with
            ``requires_grad=False`` from the first ``train()`` call on (as mmdet, not at
            construction); -1 freezes nothing.
        use_depthwise: Depthwise-separable stride-2 convs and block ``conv1``s.
        expand_ratio: Hidden-width ratio of each CSP layer.
        arch_ovewrite: Stage settings ``[[in, out, num_blocks, add_identity, use_spp], ...]``
            replacing ``arch``'s (mmdet's spelling of the keyword).
        spp_kernel_sizes: Max-pool kernels of the SPP block.
        channel_attention: ``ChannelAttention`` in every CSP layer.
        conv_cfg: Conv config of the stages (mmdet builds the stem without it).
        norm_cfg: Norm config (mmdet's default BN with momentum 0.03, eps 0.001).
        act_cfg: Activation config (mmdet's default SiLU).
        norm_eval: Keep every batch-norm layer in eval mode when in train mode.
        init_cfg: mmdet's default Kaiming-uniform init (:meth:`init_weights`), ``None``
            (keep ``ConvModule``'s init) or a ``Pretrained`` record (load the checkpoint with
            visdet's loader).
    """

    arch_settings: ClassVar[dict[str, tuple[StageSetting, ...]]] = {
        "P5": ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
               (512, 1024, 3, False, True)),
        "P6": ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
               (512, 768, 3, True, False), (768, 1024, 3, False, True)),
    }  # fmt: skip

    def __init__(
        self,
        *,
        arch: str = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        arch_ovewrite: Sequence[Sequence[Any]] | None = None,
        spp_kernel_sizes: Sequence[int] = (5, 9, 13),
        channel_attention: bool = True,
        conv_cfg: Mapping[str, Any] | None = None,
        norm_cfg: NormConfig = CSP_NORM_CFG,
        act_cfg: ActConfig = SILU_CFG,
        norm_eval: bool = False,
        init_cfg: Mapping[str, Any] | None = KAIMING_INIT_CFG,
    ) -> None:
        super().__init__()
        if arch not in self.arch_settings:
            raise ValueError(f"arch must be one of {sorted(self.arch_settings)}, got {arch!r}")
        # mmdet uses arch_ovewrite only when it is truthy (an empty list keeps arch's settings)
        settings = [_stage_setting(s) for s in arch_ovewrite] if arch_ovewrite else list(self.arch_settings[arch])
        num_layers = len(settings) + 1
        if not out_indices or not set(out_indices) <= set(range(num_layers)):
            raise ValueError(
                f"out_indices must be non-empty layer indices in 0..{num_layers - 1} (0 the stem), got "
                f"{tuple(out_indices)}"
            )
        if frozen_stages not in range(-1, num_layers):
            raise ValueError(f"frozen_stages must be in range(-1, {num_layers}), got {frozen_stages}")
        if deepen_factor <= 0 or widen_factor <= 0:
            raise ValueError(f"deepen_factor and widen_factor must be > 0, got {deepen_factor}, {widen_factor}")
        stem_channels = int(settings[0][0] * widen_factor)
        if stem_channels // 2 < 1:
            raise ValueError(f"widen_factor={widen_factor} leaves the stem with {stem_channels} channels (need >= 2)")

        self.arch = arch
        self.deepen_factor = deepen_factor
        self.widen_factor = widen_factor
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.use_depthwise = use_depthwise
        self.norm_eval = norm_eval
        self.init_cfg = check_init_cfg(init_cfg, "CSPNeXt")

        half = int(settings[0][0] * widen_factor // 2)
        stem_common = dict(kernel_size=3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = nn.Sequential(
            ConvModule(in_channels=3, out_channels=half, stride=2, **stem_common),
            ConvModule(in_channels=half, out_channels=half, stride=1, **stem_common),
            ConvModule(in_channels=half, out_channels=stem_channels, stride=1, **stem_common),
        )
        self.layers = ["stem"]
        self._out_channels = [stem_channels]
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        for i, (cin, cout, num_blocks, add_identity, use_spp) in enumerate(settings):
            cin, cout = int(cin * widen_factor), int(cout * widen_factor)
            stage: list[nn.Module] = [
                conv_module_class(use_depthwise)(
                    in_channels=cin, out_channels=cout, kernel_size=3, stride=2, padding=1, **common
                )
            ]
            if use_spp:
                stage.append(
                    SPPBottleneck(in_channels=cout, out_channels=cout, kernel_sizes=spp_kernel_sizes, **common)
                )
            stage.append(
                CSPLayer(
                    in_channels=cout,
                    out_channels=cout,
                    num_blocks=max(round(num_blocks * deepen_factor), 1),
                    add_identity=add_identity,
                    use_depthwise=use_depthwise,
                    use_cspnext_block=True,
                    expand_ratio=expand_ratio,
                    channel_attention=channel_attention,
                    **common,
                )
            )
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")
            self._out_channels.append(cout)

    @property
    def out_channels(self) -> tuple[int, ...]:
        """Channels of each returned feature map."""
        return tuple(self._out_channels[i] for i in self.out_indices)

    def init_weights(self) -> None:
        """Initialise as mmdet by default: Kaiming-uniform (a = sqrt(5), fan_in) convs, zero biases."""
        init_convs_as_mmdet(self, self.init_cfg, "CSPNeXt")

    def _freeze_stages(self) -> None:
        for name in self.layers[: self.frozen_stages + 1]:
            layer = getattr(self, name)
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> CSPNeXt:
        """Set train/eval mode; frozen layers (and with ``norm_eval`` every batch norm) stay in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            batch_norms_to_eval(self)
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the stem and stages.

        Args:
            x: Tensor[N, 3, H, W].

        Returns:
            One Tensor[N, C_i, H_i, W_i] per entry of ``out_indices``.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"CSPNeXt expects input of shape (N, 3, H, W), got {tuple(x.shape)}")
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _stage_setting(setting: Sequence[Any]) -> StageSetting:
    if isinstance(setting, (str, bytes)) or len(setting) != 5:
        raise ValueError(
            f"each arch_ovewrite entry must be [in_channels, out_channels, num_blocks, add_identity, use_spp], "
            f"got {setting!r}"
        )
    cin, cout, num_blocks, add_identity, use_spp = setting
    return int(cin), int(cout), int(num_blocks), bool(add_identity), bool(use_spp)
