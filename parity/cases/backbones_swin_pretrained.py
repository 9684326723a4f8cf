"""Parity cases: Swin Transformer initialised from a local checkpoint, and ``swin_converter``.

The checkpoint's tensors are the case's inputs (``ckpt.<key>``; drawn from the seed, so
their values need not be trained weights); both sides write them to a fresh temporary
file and load it the way their ``init_weights`` does:

* ``original_layout``: a checkpoint in the original Swin naming
  (``convert_weights=True``: renamed, patch-merging weights reordered), a classifier
  ``head.*`` to drop, the index buffers and bias tables of the same window size and head
  count (loaded as they are; mmdet cannot load tables of another head count: it warns but
  keeps them, and its load fails);
* ``resized_bias_tables``: an mmdet-layout checkpoint (``backbone.*``) of window 3 given
  to a model of window 4: its bias tables are resized bicubically (without the index
  buffers, which mmdet cannot load across window sizes).

The deprecated ``pretrained=`` argument has no case: mmdet 3.3's Swin builds the
``Pretrained`` init_cfg from it and then overwrites it with ``None``
(``super().__init__(init_cfg=init_cfg)``), so it never loads the checkpoint; visdet loads it.

Recorded: the feature maps in eval mode, float64 (the bicubic resize runs in the
checkpoint's float64). ``converter`` records ``swin_converter``'s output for a small
original-layout state dict.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from parity.cases.base import Case, Tensors, register

COMPONENT = "models/backbones/swin"
_CKPT = "ckpt."
_BASE = {"embed_dims": 16, "depths": [2, 1], "strides": [4, 2], "mlp_ratio": 1, "drop_path_rate": 0.0}


def _original_name(key: str) -> str:
    """mmdet's state-dict key in the original Swin naming (the inverse of the converter's renaming)."""
    key = key.replace("patch_embed.projection", "patch_embed.proj").replace("attn.w_msa.", "attn.")
    key = key.replace("ffn.layers.0.0.", "mlp.fc1.").replace("ffn.layers.1.", "mlp.fc2.")
    return key.replace("stages.", "layers.", 1)


def _source_shapes(params: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the checkpoint: those of a visdet model built with ``source`` kwargs."""
    from visdet.models.backbones import SwinTransformer

    model = SwinTransformer(**{**_BASE, **params["source"]})
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if "relative_position_index" not in k}


def _inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    out = {"input": torch.randn(tuple(params["input_shape"]), generator=generator)}
    for key, shape in _source_shapes(params).items():
        name = _original_name(key) if params["layout"] == "original" else f"backbone.{key}"
        out[_CKPT + name] = torch.randn(shape, generator=generator) * 0.2
    if params["layout"] == "original":
        out[_CKPT + "head.weight"] = torch.randn(10, 32, generator=generator)
    if params.get("with_index"):  # the index buffers of the same window size (kept, as they are equal)
        from visdet.models.backbones import SwinTransformer

        model = SwinTransformer(**{**_BASE, **params["source"]})
        for key, value in model.state_dict().items():
            if "relative_position_index" in key:
                out[_CKPT + _original_name(key)] = value.clone()
    return out


def _run(build: Any, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    ckpt = {k[len(_CKPT):]: v.clone() for k, v in inputs.items() if k.startswith(_CKPT)}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "swin.pth")
        torch.save({"state_dict": ckpt} if params["layout"] == "mmdet" else ckpt, path)
        model = build(path)
        model.init_weights()
    model.eval()
    with torch.no_grad():
        outs = model(inputs["input"].clone())
    return {f"out.{i}": out.clone() for i, out in enumerate(outs)}


def _kwargs(params: Mapping[str, Any], path: str) -> dict[str, Any]:
    return {**_BASE, **params["target"], "convert_weights": params["layout"] == "original",
            "init_cfg": {"type": "Pretrained", "checkpoint": path}}


def _reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.backbones.swin import SwinTransformer
    from mmengine.config import ConfigDict

    def build(path: str) -> Any:
        kwargs = _kwargs(params, path)
        return SwinTransformer(**{**kwargs, "init_cfg": ConfigDict(kwargs["init_cfg"])})  # read as attributes

    return _run(build, params, inputs)


def _visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    import warnings

    from visdet.models.backbones import SwinTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped-table warnings are expected
        return _run(lambda path: SwinTransformer(**_kwargs(params, path)), params, tensors)


register(Case(
    component=COMPONENT, dtype="float64", name="pretrained_original_layout", seed=54,
    params={"layout": "original", "with_index": True, "input_shape": [1, 3, 30, 36],
            "source": {"num_heads": [2, 4], "window_size": 4, "out_indices": [0, 1]},
            "target": {"num_heads": [2, 4], "window_size": 4, "out_indices": [0, 1]}},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="init_cfg Pretrained with convert_weights: original-layout checkpoint renamed and reordered, "
                "head.* dropped, index buffers and bias tables loaded as they are",
))
register(Case(
    component=COMPONENT, dtype="float64", name="pretrained_resized_bias_tables", seed=55,
    params={"layout": "mmdet", "input_shape": [1, 3, 34, 40],
            "source": {"num_heads": [2, 4], "window_size": 3, "out_indices": [0, 1]},
            "target": {"num_heads": [2, 4], "window_size": 4, "out_indices": [1]}},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="init_cfg Pretrained, mmdet-layout checkpoint of window 3 into window 4: bias tables resized "
                "bicubically; only the last stage returned",
))
register(Case(
    component=COMPONENT, dtype="float64", name="pretrained_shrunk_bias_tables", seed=57,
    params={"layout": "mmdet", "input_shape": [1, 3, 30, 36],
            "source": {"num_heads": [2, 4], "window_size": 4, "out_indices": [0, 1]},
            "target": {"num_heads": [2, 4], "window_size": 3, "out_indices": [0, 1]}},
    make_inputs=_inputs, reference=_reference, visdet=_visdet,
    description="init_cfg Pretrained, mmdet-layout checkpoint of window 4 into window 3: 7x7 bias tables shrunk "
                "bicubically to 5x5 (a table side that is not a small square root's floor)",
))


# ------------------------------------------------------------------ swin_converter
def _converter_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {_CKPT + _original_name(k): torch.randn(s, generator=generator) for k, s in _source_shapes(params).items()}


def _converter_run(convert: Any, inputs: Tensors) -> Tensors:
    ckpt = {k[len(_CKPT):]: v.clone() for k, v in inputs.items() if k.startswith(_CKPT)}
    ckpt["head.bias"] = torch.zeros(3)
    # keys the original layout does not have, renamed by the converter's fallbacks
    ckpt["layers.0.blocks.0.mlp.extra"] = torch.arange(3.0)
    ckpt["layers.0.downsample.extra"] = torch.arange(4.0)
    return {f"out.{k}": v.clone() for k, v in convert(ckpt).items()}


def _converter_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.backbones.swin import swin_converter

    return _converter_run(swin_converter, inputs)


def _converter_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.backbones.swin_converter import swin_converter

    return _converter_run(swin_converter, tensors)


register(Case(
    component="models/backbones/swin_converter", name="original_to_mmdet", seed=56,
    params={"source": {"num_heads": [2, 4], "window_size": 3, "out_indices": [0, 1], "embed_dims": 8}},
    make_inputs=_converter_inputs, reference=_converter_reference, visdet=_converter_visdet,
    description="swin_converter: keys renamed, head.* dropped, patch-merging reduction/norm reordered, "
                "unknown mlp/downsample keys renamed or kept",
))
