"""Parity cases: the DETR family's foundation (mmdet 3.3 / mmcv 2.1).

* ``ChannelMapper`` (float64): outputs and the gradients of ``<out, w>`` for every input
  level and parameter, after mmdet's ``init_weights`` and a seeded perturbation of every
  weight; plus a float32 case whose outputs are the state after mmdet's seeded init.
* ``SinePositionalEncoding`` (float32, as mmdet computes it whatever the dtype): padding
  masks of several shapes, normalised or not, and the unpadded ``input`` path.
* ``LearnedPositionalEncoding`` (float32): the state after the seeded init, the encoding
  and the embeddings' gradients.
* ``multi_scale_deformable_attn_pytorch`` (float32, mmcv's CPU path): output and gradients
  of value, sampling locations and weights, with points outside the maps.
* ``MultiScaleDeformableAttention`` (float64, with one float32 case): the seeded init (the
  grid of ``sampling_offsets``), then forward/backward with perturbed weights: padding masks,
  2-d reference points and 4-d reference boxes, ``batch_first`` both ways, ``identity`` and
  ``query_pos``, ``value_proj_ratio``, dropout in train mode (seeded right before forward).

One adapter on the reference side: mmcv's ``init_weights`` replaces
``sampling_offsets.bias`` by a float32 tensor, so under float64 as the default dtype its own
module cannot run (``F.linear`` with a float32 bias); the float64 cases cast the reference
module to the default dtype after construction (values unchanged, float32 -> float64 is exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from parity.cases._detr_detector_common import dropout_deprecation
from parity.cases._heads_detector_common import load_state, module_grads, state_entries
from parity.cases.base import Case, Tensors, register

_PERTURB_SCALE = 0.3


def _grad_weight(out: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Add seeded noise to every parameter (in name order), so no weight is at its init value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(module.named_parameters()):
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            param.add_(_PERTURB_SCALE * noise.to(param.dtype))


def _init_entries(module: torch.nn.Module) -> Tensors:
    return {f"init.{k}": v.detach().clone() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- ChannelMapper
CM_COMPONENT = "models/necks/channel_mapper"


def _cm_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    channels = params["kwargs"]["in_channels"]
    return {
        f"input.{i}": torch.randn((params["batch"], c, h, w), generator=generator)
        for i, (c, (h, w)) in enumerate(zip(channels, params["sizes"]))
    }


def _cm_run(module: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    module.eval()  # BN (one case) with its running statistics
    levels = [tensors[f"input.{i}"].clone().requires_grad_(True) for i in range(len(params["sizes"]))]
    outs = module(levels)
    total = sum((out * _grad_weight(out, 100 + i)).sum() for i, out in enumerate(outs))
    total.backward()
    result = {f"out.{i}": out.detach().clone() for i, out in enumerate(outs)}
    result.update({f"grad.input.{i}": x.grad.detach().clone() for i, x in enumerate(levels)})
    return {**result, **module_grads(module)}


def _cm_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.necks import ChannelMapper

    torch.manual_seed(params["seed"])
    module = ChannelMapper(**params["kwargs"])
    module.init_weights()
    if params.get("init_only"):
        return _init_entries(module)
    _perturb(module, params["seed"] + 1)
    return {**state_entries(module), **_cm_run(module, params, inputs)}


def _cm_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.necks import ChannelMapper

    torch.manual_seed(params["seed"])
    module = ChannelMapper(**params["kwargs"])
    module.init_weights()
    if params.get("init_only"):
        return _init_entries(module)
    load_state(module, tensors)
    return _cm_run(module, params, tensors)


_CM_CASES = {
    "detr_gn_k1_extra": (
        dict(in_channels=[4, 6, 8], out_channels=8, kernel_size=1, act_cfg=None,
             norm_cfg={"type": "GN", "num_groups": 4}, num_outs=4),
        [[9, 11], [5, 6], [3, 3]],
        "Deformable DETR's neck shape: 1x1 convs, GN, no activation, one stride-2 extra level",
    ),
    "default_relu_k3": (
        dict(in_channels=[3, 5], out_channels=4),
        [[7, 8], [4, 4]],
        "mmdet's defaults: 3x3 convs with bias, ReLU, one output per input",
    ),
    "no_bias_two_extra": (
        dict(in_channels=[4, 6], out_channels=6, bias=False, num_outs=4),
        [[8, 10], [5, 5]],
        "bias=False without a norm, two extra levels (the second reads the first extra output)",
    ),
    "k5_bn_leaky": (
        dict(in_channels=[2, 3], out_channels=4, kernel_size=5, norm_cfg={"type": "BN"},
             act_cfg={"type": "LeakyReLU", "negative_slope": 0.2}),
        [[9, 7], [6, 6]],
        "kernel 5 (padding 2), BN in eval mode, LeakyReLU",
    ),
}  # fmt: skip
for _index, (_name, (_kwargs, _sizes, _text)) in enumerate(_CM_CASES.items()):
    _seed = 1800 + _index
    register(Case(
        component=CM_COMPONENT, dtype="float64", name=_name, seed=_seed,
        params={"kwargs": _kwargs, "sizes": _sizes, "batch": 2, "seed": _seed},
        make_inputs=_cm_inputs, reference=_cm_reference, visdet=_cm_visdet,
        description=f"ChannelMapper {_text}: outputs, gradients of every input level and parameter",
    ))  # fmt: skip
register(Case(
    component=CM_COMPONENT, name="seeded_init", seed=1810,
    params={"kwargs": _CM_CASES["detr_gn_k1_extra"][0], "sizes": [], "batch": 1, "seed": 1810, "init_only": True},
    make_inputs=lambda params, generator: {}, reference=_cm_reference, visdet=_cm_visdet,
    description="ChannelMapper state after a seeded construction and mmdet's init_weights (Xavier-uniform convs)",
))  # fmt: skip


# --------------------------------------------------------------------------- positional encodings
def _pe_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    batch, height, width = params["shape"]
    mask = torch.zeros(batch, height, width, dtype=torch.uint8)
    for image, (valid_h, valid_w) in enumerate(params.get("valid", [])):
        mask[image, valid_h:, :] = 1
        mask[image, :, valid_w:] = 1
    return {"mask": mask}


def _sine_run(module: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    mask = tensors["mask"].bool() if params.get("bool_mask") else tensors["mask"]
    if params.get("no_mask"):
        batch, height, width = params["shape"]
        return {"pos": module(None, torch.zeros(batch, 3, height, width))}
    return {"pos": module(mask)}


def _sine_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers import SinePositionalEncoding

    return _sine_run(SinePositionalEncoding(**params["kwargs"]), params, inputs)


def _sine_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import SinePositionalEncoding

    return _sine_run(SinePositionalEncoding(**params["kwargs"]), params, tensors)


_SINE_CASES = {
    "default_padded": dict(kwargs=dict(num_feats=8), shape=[2, 5, 7], valid=[[5, 7], [3, 4]]),
    "deformable_detr_normalize": dict(kwargs=dict(num_feats=6, normalize=True, offset=-0.5), shape=[3, 6, 4],
                                      valid=[[6, 4], [2, 3], [6, 1]], bool_mask=True),
    "dino_temperature20": dict(kwargs=dict(num_feats=10, normalize=True, offset=0.0, temperature=20),
                               shape=[2, 4, 9], valid=[[4, 9], [3, 5]], bool_mask=True),
    "scale_eps_no_mask": dict(kwargs=dict(num_feats=4, normalize=True, scale=3, eps=0.5), shape=[2, 3, 5],
                              no_mask=True),
}  # fmt: skip
for _index, (_name, _params) in enumerate(_SINE_CASES.items()):
    register(Case(
        component="models/layers/sine_positional_encoding", name=_name, seed=1820 + _index, params=_params,
        make_inputs=_pe_inputs, reference=_sine_reference, visdet=_sine_visdet,
        description=f"SinePositionalEncoding {_params['kwargs']} on a {_params['shape']} mask",
    ))  # fmt: skip


def _learned_run(module: torch.nn.Module, tensors: Tensors) -> Tensors:
    pos = module(tensors["mask"])
    (pos * _grad_weight(pos, 7)).sum().backward()
    return {"pos": pos.detach().clone(), **module_grads(module)}


def _learned_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers import LearnedPositionalEncoding

    torch.manual_seed(params["seed"])
    module = LearnedPositionalEncoding(params["num_feats"], **params["kwargs"])
    module.init_weights()
    return {**_init_entries(module), **state_entries(module), **_learned_run(module, inputs)}


def _learned_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import LearnedPositionalEncoding

    torch.manual_seed(params["seed"])
    module = LearnedPositionalEncoding(params["num_feats"], **params["kwargs"])
    module.init_weights()
    init = _init_entries(module)
    load_state(module, tensors)
    return {**init, **_learned_run(module, tensors)}


register(Case(
    component="models/layers/learned_positional_encoding", name="seeded_init_forward", seed=1830,
    params=dict(num_feats=4, kwargs=dict(row_num_embed=6, col_num_embed=9), shape=[2, 5, 7], valid=[[5, 7], [2, 3]],
                seed=1830),
    make_inputs=_pe_inputs, reference=_learned_reference, visdet=_learned_visdet,
    description="LearnedPositionalEncoding: seeded init (U(0, 1) embeddings), the encoding and its weight gradients",
))  # fmt: skip


# --------------------------------------------------------------------------- deformable attention
def _level_geometry(shapes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    spatial = torch.tensor(shapes, dtype=torch.long)
    areas = spatial[:, 0] * spatial[:, 1]
    return spatial, torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])


def _fn_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    batch, queries, heads, channels, points = (params[k] for k in ("batch", "queries", "heads", "channels", "points"))
    levels = len(params["shapes"])
    keys = sum(h * w for h, w in params["shapes"])
    low, high = params["location_range"]
    return {
        "value": torch.randn(batch, keys, heads, channels, generator=generator),
        "sampling_locations": low + (high - low) * torch.rand(batch, queries, heads, levels, points, 2,
                                                              generator=generator),
        "attention_weights": torch.rand(batch, queries, heads, levels, points, generator=generator),
    }  # fmt: skip


def _fn_run(function: Any, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    names = ("value", "sampling_locations", "attention_weights")
    args = {name: tensors[name].clone().requires_grad_(True) for name in names}
    spatial, _ = _level_geometry(params["shapes"])
    out = function(args["value"], spatial, args["sampling_locations"], args["attention_weights"])
    (out * _grad_weight(out, 11)).sum().backward()
    return {"out": out.detach().clone(), **{f"grad.{name}": args[name].grad.detach().clone() for name in names}}


def _fn_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

    return _fn_run(multi_scale_deformable_attn_pytorch, params, inputs)


def _fn_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

    return _fn_run(multi_scale_deformable_attn_pytorch, params, tensors)


_FN_CASES = {
    "three_levels_outside_points": dict(batch=2, queries=5, heads=2, channels=4, points=2,
                                        shapes=[[6, 7], [3, 4], [2, 1]], location_range=[-0.2, 1.2]),
    "one_level_four_points": dict(batch=1, queries=7, heads=4, channels=2, points=4, shapes=[[5, 3]],
                                  location_range=[0.0, 1.0]),
    "four_levels_single_head": dict(batch=3, queries=3, heads=1, channels=3, points=3,
                                    shapes=[[8, 6], [4, 3], [2, 2], [1, 1]], location_range=[-0.05, 1.05]),
}  # fmt: skip
for _index, (_name, _params) in enumerate(_FN_CASES.items()):
    register(Case(
        component="ops/multi_scale_deformable_attn", name=_name, seed=1840 + _index, params=_params,
        make_inputs=_fn_inputs, reference=_fn_reference, visdet=_fn_visdet,
        description=f"mmcv's multi_scale_deformable_attn_pytorch {_params}: output, value/location/weight gradients",
    ))  # fmt: skip


def _msda_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    kwargs = params["kwargs"]
    embed, levels = kwargs["embed_dims"], kwargs["num_levels"]
    batch, queries = params["batch"], params["queries"]
    keys = sum(h * w for h, w in params["shapes"])
    tensors = {
        "query": torch.randn(batch, queries, embed, generator=generator),
        "query_pos": torch.randn(batch, queries, embed, generator=generator),
        "reference_points": torch.rand(batch, queries, levels, params["ref_dims"], generator=generator),
    }
    if params["ref_dims"] == 4:  # boxes (cx, cy, w, h) with sizes in [0.1, 0.6]
        tensors["reference_points"][..., 2:] = 0.1 + 0.5 * tensors["reference_points"][..., 2:]
    if params.get("separate_value"):
        tensors["value"] = torch.randn(batch, keys, embed, generator=generator)
    if params.get("identity"):
        tensors["identity"] = torch.randn(batch, queries, embed, generator=generator)
    mask = torch.zeros(batch, keys, dtype=torch.uint8)
    for image, count in enumerate(params.get("padded_keys", [])):
        if count:
            mask[image, -count:] = 1
    tensors["key_padding_mask"] = mask
    return tensors


def _msda_run(module: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    module.train(params.get("train", False))
    spatial, starts = _level_geometry(params["shapes"])
    grads = ["query", "query_pos"] + [k for k in ("value", "identity") if k in tensors]
    args = {k: tensors[k].clone().requires_grad_(True) for k in grads}
    seq = {k: (v if module.batch_first else v.transpose(0, 1)) for k, v in args.items()}
    mask = tensors["key_padding_mask"].bool() if params.get("padded_keys") else None
    if params.get("train"):
        torch.manual_seed(params["seed"] + 2)
    out = module(seq["query"], value=seq.get("value"), identity=seq.get("identity"), query_pos=seq["query_pos"],
                 key_padding_mask=mask, reference_points=tensors["reference_points"], spatial_shapes=spatial,
                 level_start_index=starts)  # fmt: skip
    (out * _grad_weight(out, 13)).sum().backward()
    result = {"out": out.detach().clone(), **{f"grad.{k}": v.grad.detach().clone() for k, v in args.items()}}
    return {**result, **module_grads(module)}


def _msda_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttention

    torch.manual_seed(params["seed"])
    module = MultiScaleDeformableAttention(**params["kwargs"])
    init = _init_entries(module)
    if params.get("init_only"):
        return {**init, **state_entries(module), **_msda_run(module, params, inputs)}
    module.to(torch.get_default_dtype())  # the module docstring: mmcv's float32 bias under float64
    _perturb(module, params["seed"] + 1)
    return {**state_entries(module), **_msda_run(module, params, inputs)}


def _msda_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import MultiScaleDeformableAttention

    torch.manual_seed(params["seed"])
    module = MultiScaleDeformableAttention(**params["kwargs"])
    init = _init_entries(module) if params.get("init_only") else {}
    load_state(module, tensors)
    return {**init, **_msda_run(module, params, tensors)}


_ATTN = dict(embed_dims=8, num_heads=2, num_levels=3, num_points=2, dropout=0.0)
_SHAPES3 = [[6, 5], [3, 3], [2, 1]]
_MSDA_CASES = {
    "encoder_2d_padding_batch_first": (
        "float64",
        dict(kwargs={**_ATTN, "batch_first": True}, shapes=_SHAPES3, batch=2, queries=41, ref_dims=2,
             padded_keys=[0, 9]),
        "encoder self-attention (value = query): 2-d reference points, image 2 padded, batch_first",
    ),
    "decoder_4d_boxes_seq_first": (
        "float64",
        dict(kwargs=dict(embed_dims=12, num_heads=3, num_levels=2, num_points=4, dropout=0.0), shapes=[[5, 7], [3, 4]],
             batch=2, queries=6, ref_dims=4, separate_value=True, identity=True, padded_keys=[4, 0]),
        "decoder cross-attention: 4-d reference boxes, separate value and identity, (L, B, E) layout",
    ),
    "value_proj_ratio_half": (
        "float64",
        dict(kwargs={**_ATTN, "num_heads": 4, "num_points": 3, "value_proj_ratio": 0.5, "batch_first": True},
             shapes=_SHAPES3, batch=1, queries=5, ref_dims=2, separate_value=True),
        "value_proj_ratio 0.5 (value and output projections of half width), 4 heads, 3 points",
    ),
    "dropout_train": (
        "float64",
        dict(kwargs={**_ATTN, "dropout": 0.3, "batch_first": True}, shapes=_SHAPES3, batch=2, queries=4, ref_dims=2,
             separate_value=True, padded_keys=[3, 0], train=True),
        "dropout 0.3 in train mode (seeded right before forward)",
    ),
    "float32_four_levels": (
        "float32",
        dict(kwargs=dict(embed_dims=16, num_heads=4, num_levels=4, num_points=2, dropout=0.0, batch_first=True),
             shapes=[[8, 6], [4, 3], [2, 2], [1, 1]], batch=2, queries=7, ref_dims=2, separate_value=True,
             padded_keys=[0, 20]),
        "float32, four levels, as a float32 model runs it",
    ),
    "seeded_init": (
        "float32",
        dict(kwargs=dict(embed_dims=16, num_heads=8, num_levels=3, num_points=4, dropout=0.0), shapes=_SHAPES3,
             batch=2, queries=4, ref_dims=2, separate_value=True, init_only=True),
        "the seeded init of mmcv (angular offset grid of 8 heads, Xavier projections) and its forward",
    ),
}  # fmt: skip
for _index, (_name, (_dtype, _params, _text)) in enumerate(_MSDA_CASES.items()):
    _seed = 1850 + _index
    register(Case(
        component="models/layers/multi_scale_deformable_attention", dtype=_dtype, name=_name, seed=_seed,
        params={**_params, "seed": _seed}, make_inputs=_msda_inputs, reference=_msda_reference, visdet=_msda_visdet,
        description=f"mmcv's MultiScaleDeformableAttention, {_text}: output, input and parameter gradients",
    ))  # fmt: skip


# --------------------------------------------------------------------------- encoder and decoder layers
def _layer_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    embed, batch, queries = params["embed_dims"], params["batch"], params["queries"]
    keys = sum(h * w for h, w in params["shapes"])
    levels = len(params["shapes"])
    tensors = {"memory": torch.randn(batch, keys, embed, generator=generator)}
    if params["kind"] == "encoder":
        tensors["memory_pos"] = torch.randn(batch, keys, embed, generator=generator)
    tensors["valid_ratios"] = 0.5 + 0.5 * torch.rand(batch, levels, 2, generator=generator)
    if params["kind"] == "decoder":
        tensors["query"] = torch.randn(batch, queries, embed, generator=generator)
        tensors["query_pos"] = torch.randn(batch, queries, embed, generator=generator)
        ref = torch.rand(batch, queries, levels, params["ref_dims"], generator=generator)
        if params["ref_dims"] == 4:
            ref[..., 2:] = 0.1 + 0.5 * ref[..., 2:]
        tensors["reference_points"] = ref
        mask = torch.zeros(queries, queries, dtype=torch.uint8)
        for start, stop in params.get("blocked", []):  # queries [start, stop) cannot see the others
            mask[start:stop, :start] = 1
            mask[start:stop, stop:] = 1
        tensors["self_attn_mask"] = mask
    else:
        tensors["reference_points"] = torch.rand(batch, keys, levels, 2, generator=generator)
    padding = torch.zeros(batch, keys, dtype=torch.uint8)
    for image, count in enumerate(params.get("padded_keys", [])):
        if count:
            padding[image, -count:] = 1
    tensors["key_padding_mask"] = padding
    return tensors


def _layer_run(module: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    module.train(params.get("train", False))
    spatial, starts = _level_geometry(params["shapes"])
    # the deformable cross-attention reads no key position: the decoder's inputs are memory, query, query_pos
    names = ["memory", "query", "query_pos"] if params["kind"] == "decoder" else ["memory", "memory_pos"]
    args = {k: tensors[k].clone().requires_grad_(True) for k in names}
    padding = tensors["key_padding_mask"].bool()
    geometry = dict(reference_points=tensors["reference_points"], spatial_shapes=spatial, level_start_index=starts,
                    valid_ratios=tensors["valid_ratios"])  # fmt: skip
    torch.manual_seed(params["seed"] + 2)  # dropout draws in train mode
    if params["kind"] == "decoder":
        blocked = tensors["self_attn_mask"].bool() if params.get("blocked") else None
        out = module(args["query"], value=args["memory"], query_pos=args["query_pos"], key_padding_mask=padding,
                     self_attn_mask=blocked, **geometry)  # fmt: skip
    else:
        out = module(args["memory"], args["memory_pos"], padding, **geometry)
    (out * _grad_weight(out, 17)).sum().backward()
    result = {"out": out.detach().clone(), **{f"grad.{k}": v.grad.detach().clone() for k, v in args.items()}}
    return {**result, **module_grads(module)}


def _layer_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: dict(value) for key, value in params["kwargs"].items()}  # mmdet writes into its config dicts


def _layer_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers.transformer import deformable_detr_layers

    torch.manual_seed(params["seed"])
    module = getattr(deformable_detr_layers, params["class"])(**_layer_kwargs(params))
    module.to(torch.get_default_dtype())  # the module docstring: mmcv's float32 offset bias under float64
    _perturb(module, params["seed"] + 1)
    return {**state_entries(module), **_layer_run(module, params, inputs)}


def _layer_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models import layers

    kwargs = _layer_kwargs(params)
    self_attn_cfg = kwargs["self_attn_cfg"] if params["kind"] == "decoder" else {}  # the encoder's is MSDA's
    with dropout_deprecation(self_attn_cfg):
        module = getattr(layers, params["class"])(**kwargs)
    load_state(module, tensors)
    return _layer_run(module, params, tensors)


def _layer_cfgs(embed: int, levels: int, points: int, dropout: float, decoder: bool) -> dict[str, Any]:
    msda = dict(embed_dims=embed, num_heads=2, num_levels=levels, num_points=points, dropout=dropout)
    ffn = dict(embed_dims=embed, feedforward_channels=2 * embed, ffn_drop=dropout)
    if decoder:
        return dict(self_attn_cfg=dict(embed_dims=embed, num_heads=2, dropout=dropout), cross_attn_cfg=msda,
                    ffn_cfg=ffn)  # fmt: skip
    return dict(self_attn_cfg=msda, ffn_cfg=ffn)


_ENC = "DeformableDetrTransformerEncoderLayer"
_DEC = "DeformableDetrTransformerDecoderLayer"
_LAYER_CASES = {
    "encoder_padding_eval": dict(
        kind="encoder", cls=_ENC, embed=8, levels=3, points=2, dropout=0.1, shapes=_SHAPES3, queries=0,
        padded_keys=[0, 7], text="encoder layer, eval, image 2 padded"),
    "encoder_dropout_train": dict(
        kind="encoder", cls=_ENC, embed=8, levels=2, points=3, dropout=0.2, shapes=[[4, 3], [2, 2]], queries=0,
        padded_keys=[2, 0], train=True, text="encoder layer, train mode with dropout 0.2"),
    "decoder_boxes_self_mask_eval": dict(
        kind="decoder", cls=_DEC, embed=8, levels=3, points=2, dropout=0.1, shapes=_SHAPES3, queries=6, ref_dims=4,
        blocked=[[0, 2], [2, 4]], padded_keys=[0, 9], text="decoder layer, eval, 4-d reference boxes, a self-attention "
        "mask of two blocked groups (as DINO's denoising queries), padded memory"),
    "decoder_points_dropout_train": dict(
        kind="decoder", cls=_DEC, embed=8, levels=2, points=2, dropout=0.1, shapes=[[4, 3], [2, 2]], queries=5,
        ref_dims=2, padded_keys=[3, 0], train=True,
        text="decoder layer, train mode with dropout, 2-d reference points"),
}  # fmt: skip
for _index, (_name, _spec) in enumerate(_LAYER_CASES.items()):
    _seed = 1870 + _index
    _params = {key: value for key, value in _spec.items() if key not in ("cls", "embed", "levels", "points",
                                                                         "dropout", "text")}  # fmt: skip
    _params.update({"class": _spec["cls"], "embed_dims": _spec["embed"], "batch": 2, "seed": _seed,
                    "kwargs": _layer_cfgs(_spec["embed"], _spec["levels"], _spec["points"], _spec["dropout"],
                                          _spec["kind"] == "decoder")})  # fmt: skip
    register(Case(
        component=f"models/layers/deformable_detr_{_spec['kind']}_layer", dtype="float64", name=_name, seed=_seed,
        params=_params, make_inputs=_layer_inputs, reference=_layer_reference, visdet=_layer_visdet,
        description=f"mmdet's {_spec['cls']}, {_spec['text']}: output, input and parameter gradients",
    ))  # fmt: skip


# --------------------------------------------------------------------------- mmcv's MultiheadAttention
def _mha_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    embed, batch, queries, keys = params["embed_dims"], params["batch"], params["queries"], params["keys"]
    tensors = {"query": torch.randn(batch, queries, embed, generator=generator)}
    for name in params["given"]:  # key, value, key_pos (keys long), query_pos, identity (queries long)
        length = keys if name in ("key", "value", "key_pos") else queries
        tensors[name] = torch.randn(batch, length, embed, generator=generator)
    if params.get("attn_mask"):
        tensors["attn_mask"] = (torch.rand(queries, keys if "key" in params["given"] else queries,
                                           generator=generator) < 0.3).to(torch.uint8)  # fmt: skip
        tensors["attn_mask"][:, 0] = 0  # every query sees at least one key
    if params.get("padded_keys"):
        mask = torch.zeros(batch, keys, dtype=torch.uint8)
        for image, count in enumerate(params["padded_keys"]):
            if count:
                mask[image, -count:] = 1
        tensors["key_padding_mask"] = mask
    return tensors


def _mha_run(module: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    module.train(params.get("train", False))
    names = ["query", *params["given"]]
    args = {k: tensors[k].clone().requires_grad_(True) for k in names}
    seq = {k: (v if module.batch_first else v.transpose(0, 1)) for k, v in args.items()}
    masks = {k: tensors[k].bool() for k in ("attn_mask", "key_padding_mask") if k in tensors}
    torch.manual_seed(params["seed"] + 2)  # dropout draws in train mode
    out = module(**seq, **masks)
    (out * _grad_weight(out, 19)).sum().backward()
    result = {"out": out.detach().clone()}
    result.update({f"grad.{k}": v.grad.detach().clone() for k, v in args.items() if v.grad is not None})
    return {**result, **module_grads(module)}


def _mha_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmcv.cnn.bricks.transformer import MultiheadAttention

    torch.manual_seed(params["seed"])
    module = MultiheadAttention(**dict(params["kwargs"]))
    _perturb(module, params["seed"] + 1)
    return {**state_entries(module), **_mha_run(module, params, inputs)}


def _mha_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import MultiheadAttention

    with dropout_deprecation(params["kwargs"]):
        module = MultiheadAttention(**dict(params["kwargs"]))
    load_state(module, tensors)
    return _mha_run(module, params, tensors)


_MHA_CASES = {
    "seq_first_key_value_positions_masks": dict(
        kwargs=dict(embed_dims=8, num_heads=2, dropout_layer=None), queries=4, keys=6,
        given=["key", "value", "key_pos", "query_pos", "identity"], attn_mask=True, padded_keys=[0, 2],
        text="(L, B, E) layout, separate key and value, key and query positions, identity, attn_mask and padding"),
    "deprecated_dropout_train": dict(
        kwargs=dict(embed_dims=8, num_heads=4, dropout=0.2, batch_first=True), queries=5, keys=5, given=["query_pos"],
        attn_mask=True, train=True,
        text="self-attention with the deprecated dropout in train mode; the key position is the query's"),
    "proj_drop_droppath_key_without_position": dict(
        kwargs=dict(embed_dims=6, num_heads=3, proj_drop=0.1, batch_first=True,
                    dropout_layer={"type": "DropPath", "drop_prob": 0.3}),
        queries=3, keys=7, given=["key", "query_pos"], train=True, padded_keys=[1, 3],
        text="proj_drop and DropPath in train mode; a query position unlike the key's shape (mmcv warns, no key "
             "position)"),
    "no_positions_cross_attention": dict(
        kwargs=dict(embed_dims=4, num_heads=1, batch_first=True), queries=3, keys=4, given=["key", "value"],
        text="cross-attention without positions, one head"),
}  # fmt: skip
for _index, (_name, _spec) in enumerate(_MHA_CASES.items()):
    _seed = 1880 + _index
    _params = {key: value for key, value in _spec.items() if key != "text"}
    _params.update({"embed_dims": _spec["kwargs"]["embed_dims"], "batch": 2, "seed": _seed})
    register(Case(
        component="models/layers/multihead_attention", dtype="float64", name=_name, seed=_seed, params=_params,
        make_inputs=_mha_inputs, reference=_mha_reference, visdet=_mha_visdet,
        description=f"mmcv's MultiheadAttention, {_spec['text']}: output, input and parameter gradients",
    ))  # fmt: skip


# --------------------------------------------------------------------------- encoder and decoder stacks
def _stack_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    tensors = _layer_inputs({**params, "kind": params["kind"]}, generator)
    if params["kind"] == "decoder":  # the decoder's references have no level axis
        ref = torch.rand(params["batch"], params["queries"], params["ref_dims"], generator=generator)
        if params["ref_dims"] == 4:
            ref[..., 2:] = 0.1 + 0.5 * ref[..., 2:]
        tensors["reference_points"] = ref
    return tensors


def _stack_holder(module: torch.nn.Module, params: Mapping[str, Any]) -> torch.nn.Module:
    holder = torch.nn.Module()
    holder.stack = module
    if params.get("reg_branches"):  # box refinement: one Linear(E, 4) per layer, built after the stack
        holder.reg_branches = torch.nn.ModuleList(
            torch.nn.Linear(params["embed_dims"], 4) for _ in range(params["kwargs"]["num_layers"])
        )
    return holder


def _stack_run(holder: torch.nn.Module, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    holder.eval()
    spatial, starts = _level_geometry(params["shapes"])
    names = ["memory", "query", "query_pos"] if params["kind"] == "decoder" else ["memory", "memory_pos"]
    args = {k: tensors[k].clone().requires_grad_(True) for k in names}
    padding = tensors["key_padding_mask"].bool()
    if params["kind"] == "decoder":
        outputs, references = holder.stack(args["query"], args["query_pos"], args["memory"], padding,
                                           tensors["reference_points"], spatial, starts, tensors["valid_ratios"],
                                           reg_branches=getattr(holder, "reg_branches", None))  # fmt: skip
    else:
        outputs = holder.stack(args["memory"], args["memory_pos"], padding, spatial, starts, tensors["valid_ratios"])
        references = holder.stack.get_encoder_reference_points(spatial, tensors["valid_ratios"], "cpu")
    total = (outputs * _grad_weight(outputs, 23)).sum()
    if references.requires_grad:  # without box refinement the references pass through (inputs, no gradient)
        total = total + (references * _grad_weight(references, 29)).sum()
    total.backward()
    result = {"out": outputs.detach().clone(), "reference_points_out": references.detach().clone()}
    result.update({f"grad.{k}": v.grad.detach().clone() for k, v in args.items()})
    return {**result, **module_grads(holder)}


def _stack_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers.transformer import deformable_detr_layers

    torch.manual_seed(params["seed"])
    kwargs = {**params["kwargs"], "layer_cfg": _layer_kwargs({"kwargs": params["kwargs"]["layer_cfg"]})}
    holder = _stack_holder(getattr(deformable_detr_layers, params["class"])(**kwargs), params)
    holder.to(torch.get_default_dtype())  # the module docstring: mmcv's float32 offset bias under float64
    _perturb(holder, params["seed"] + 1)
    return {**state_entries(holder), **_stack_run(holder, params, inputs)}


def _stack_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models import layers

    kwargs = params["kwargs"]
    self_attn_cfg = kwargs["layer_cfg"]["self_attn_cfg"] if params["kind"] == "decoder" else {}
    with dropout_deprecation(self_attn_cfg):
        holder = _stack_holder(getattr(layers, params["class"])(**kwargs), params)
    load_state(holder, tensors)
    return _stack_run(holder, params, tensors)


_STACK_CASES = {
    "encoder_two_layers_valid_ratios": dict(
        kind="encoder", cls="DeformableDetrTransformerEncoder", decoder=False, shapes=_SHAPES3, queries=0,
        padded_keys=[0, 6], extra={}, text="two encoder layers, reference points from valid ratios, padding"),
    "decoder_refine_boxes_intermediate": dict(
        kind="decoder", cls="DeformableDetrTransformerDecoder", decoder=True, shapes=_SHAPES3, queries=5, ref_dims=4,
        reg_branches=True, padded_keys=[4, 0], extra={"post_norm_cfg": None},
        text="three decoder layers refining 4-d reference boxes (with_box_refine), intermediate outputs"),
    "decoder_refine_points_last": dict(
        kind="decoder", cls="DeformableDetrTransformerDecoder", decoder=True, shapes=[[4, 3], [2, 2]], queries=4,
        ref_dims=2, reg_branches=True, padded_keys=[0, 2], extra={"post_norm_cfg": None, "return_intermediate": False},
        text="three decoder layers refining 2-d reference points (mmdet's in-place write), last output only"),
    "decoder_fixed_points": dict(
        kind="decoder", cls="DeformableDetrTransformerDecoder", decoder=True, shapes=[[4, 3], [2, 2]], queries=4,
        ref_dims=2, padded_keys=[3, 0], extra={"post_norm_cfg": None},
        text="three decoder layers without refinement (fixed 2-d reference points), intermediate outputs"),
}  # fmt: skip
for _index, (_name, _spec) in enumerate(_STACK_CASES.items()):
    _seed = 1890 + _index
    _levels = len(_spec["shapes"])
    _layers = 2 if _spec["kind"] == "encoder" else 3
    _params = {key: value for key, value in _spec.items() if key not in ("cls", "decoder", "extra", "text")}
    _params.update({"class": _spec["cls"], "embed_dims": 8, "batch": 2, "seed": _seed,
                    "kwargs": {"num_layers": _layers, "layer_cfg": _layer_cfgs(8, _levels, 2, 0.1, _spec["decoder"]),
                               **_spec["extra"]}})  # fmt: skip
    register(Case(
        component=f"models/layers/deformable_detr_{_spec['kind']}", dtype="float64", name=_name, seed=_seed,
        params=_params, make_inputs=_stack_inputs, reference=_stack_reference, visdet=_stack_visdet,
        description=f"mmdet's {_spec['cls']}, {_spec['text']}: outputs, references, input and parameter gradients",
    ))  # fmt: skip


# --------------------------------------------------------------------------- DINO's box encoding and MLP
def _coord_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {"coords": torch.rand(*params["shape"], generator=generator)}


def _coord_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers.transformer.utils import coordinate_to_encoding

    return {"pos": coordinate_to_encoding(inputs["coords"], **params["kwargs"])}


def _coord_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import coordinate_to_encoding

    return {"pos": coordinate_to_encoding(tensors["coords"], **params["kwargs"])}


_COORD_CASES = {
    "boxes_default": dict(shape=[2, 5, 4], kwargs={}),
    "points_default": dict(shape=[1, 7, 2], kwargs={}),
    "boxes_small_temperature_scale": dict(shape=[2, 3, 4], kwargs=dict(num_feats=6, temperature=20, scale=3.0)),
}
for _index, (_name, _params) in enumerate(_COORD_CASES.items()):
    register(Case(
        component="models/layers/coordinate_to_encoding", name=_name, seed=1900 + _index, params=_params,
        make_inputs=_coord_inputs, reference=_coord_reference, visdet=_coord_visdet,
        description=f"mmdet's coordinate_to_encoding of {_params['shape']} coordinates {_params['kwargs']}",
    ))  # fmt: skip


def _mlp_inputs(params: Mapping[str, Any], generator: torch.Generator) -> Tensors:
    return {"x": torch.randn(2, 5, params["dims"][0], generator=generator)}


def _mlp_run(module: torch.nn.Module, tensors: Tensors) -> Tensors:
    x = tensors["x"].clone().requires_grad_(True)
    out = module(x)
    (out * _grad_weight(out, 31)).sum().backward()
    return {"out": out.detach().clone(), "grad.x": x.grad.detach().clone(), **module_grads(module)}


def _mlp_reference(params: Mapping[str, Any], inputs: Tensors) -> Tensors:
    from mmdet.models.layers.transformer.utils import MLP

    torch.manual_seed(params["seed"])
    module = MLP(*params["dims"])
    return {**state_entries(module), **_init_entries(module), **_mlp_run(module, inputs)}


def _mlp_visdet(params: Mapping[str, Any], tensors: Tensors) -> Tensors:
    from visdet.models.layers import MLP

    torch.manual_seed(params["seed"])
    module = MLP(*params["dims"])
    init = _init_entries(module)
    load_state(module, tensors)
    return {**init, **_mlp_run(module, tensors)}


register(Case(
    component="models/layers/mlp", dtype="float64", name="three_layers_seeded", seed=1910,
    params=dict(dims=[6, 5, 4, 3], seed=1910), make_inputs=_mlp_inputs, reference=_mlp_reference,
    visdet=_mlp_visdet,
    description="mmdet's MLP(6, 5, 4, 3 layers): seeded construction, output, input and parameter gradients",
))  # fmt: skip
