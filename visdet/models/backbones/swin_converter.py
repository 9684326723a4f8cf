"""Rename an original Swin Transformer checkpoint (Microsoft's layout) into mmdet's.

mmdet's ``swin_converter``: drops the classifier (``head.*``), maps

* ``layers.<i>.blocks.<j>.attn.*`` -> ``stages.<i>.blocks.<j>.attn.w_msa.*``,
* ``mlp.fc1`` -> ``ffn.layers.0.0``, ``mlp.fc2`` -> ``ffn.layers.1``,
* ``patch_embed.proj`` -> ``patch_embed.projection``,

permutes the patch-merging ``downsample.reduction`` weight columns and
``downsample.norm`` parameters from the original concatenation order
(x0, x1, x2, x3 = (0,0), (1,0), (0,1), (1,1) offsets, each C channels) to the unfold order
(channel-major, offsets (0,0), (0,1), (1,0), (1,1)), and prefixes every key with
``backbone.``. Other keys (``norm.*``, ``relative_position_index``, ...) keep their names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch

# the original concatenation's offsets (0,0), (1,0), (0,1), (1,1) in unfold's order
# (0,0), (0,1), (1,0), (1,1): groups 0, 2, 1, 3
_UNFOLD_ORDER = [0, 2, 1, 3]


def _reduction_to_unfold_order(weight: torch.Tensor) -> torch.Tensor:
    out_channels, in_channels = weight.shape
    weight = weight.reshape(out_channels, 4, in_channels // 4)
    return weight[:, _UNFOLD_ORDER, :].transpose(1, 2).reshape(out_channels, in_channels)


def _norm_to_unfold_order(param: torch.Tensor) -> torch.Tensor:
    in_channels = param.shape[0]
    param = param.reshape(4, in_channels // 4)
    return param[_UNFOLD_ORDER, :].transpose(0, 1).reshape(in_channels)


def _layer_key(key: str) -> str:
    if "attn." in key:
        key = key.replace("attn.", "attn.w_msa.")
    elif "mlp.fc1." in key:
        key = key.replace("mlp.fc1.", "ffn.layers.0.0.")
    elif "mlp.fc2." in key:
        key = key.replace("mlp.fc2.", "ffn.layers.1.")
    elif "mlp." in key:
        key = key.replace("mlp.", "ffn.")
    return key.replace("layers", "stages", 1)


def swin_converter(ckpt: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """The state dict of an original Swin checkpoint renamed to mmdet's keys (``backbone.`` prefix).

    Args:
        ckpt: ``{name: Tensor}`` in the original naming (``layers.0.blocks.0.attn.qkv.weight``).

    Returns:
        A new ordered dict; the input is not modified.
    """
    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in ckpt.items():
        if key.startswith("head"):
            continue
        new_key, new_value = key, value
        if key.startswith("layers"):
            new_key = _layer_key(key)
            if "attn." not in key and "mlp." not in key and "downsample" in key:
                if "reduction." in key:
                    new_value = _reduction_to_unfold_order(value)
                elif "norm." in key:
                    new_value = _norm_to_unfold_order(value)
        elif key.startswith("patch_embed") and "proj" in key:
            new_key = key.replace("proj", "projection")
        converted["backbone." + new_key] = new_value
    return converted
