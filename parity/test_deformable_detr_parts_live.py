"""Live parity of Deformable DETR's full-size parts, built from mmdet's own configs.

From ``configs/deformable_detr/deformable-detr_r50_16xb2-50e_coco.py`` and
``deformable-detr-refine_r50_16xb2-50e_coco.py`` (read by mmengine): the ``ChannelMapper``
neck, the ``SinePositionalEncoding`` and the 6-layer encoder and decoder (256 channels,
8 heads, 4 levels, 4 points), each built by mmdet and by visdet (through ``build_component``,
from the same config dict) under the same seed. Compared, bit for bit (same process, same
kernels):

* the seeded construction (``init_weights`` for the neck), every ``state_dict`` entry;
* float32 eval outputs and the gradients of the inputs and every parameter, on a batch of
  two images of different sizes padded to 256x320 (ResNet-50 C3-C5 shapes), with the
  encoder's memory, positions with level embeddings, valid ratios and padding mask built as
  ``DeformableDETR.pre_transformer`` does, and 300 queries through the refining decoder
  (``reg_branches``, 4-d reference boxes after the first layer).

Runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.reference import reference_missing

STRIDES = (8, 16, 32)
IN_CHANNELS = (512, 1024, 2048)
BATCH_SHAPE = (256, 320)
IMAGE_SHAPES = ((256, 320), (200, 288))  # (h, w) of each image before padding


def _config(name: str):
    import mmdet
    from mmengine.config import Config

    return Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "deformable_detr", name))


def _equal_states(ref: torch.nn.Module, got: torch.nn.Module, what: str) -> None:
    ref_state, state = ref.state_dict(), got.state_dict()
    assert list(state) == list(ref_state), f"{what}: state_dict keys (and their order) differ"
    bad = [k for k in ref_state if not torch.equal(ref_state[k], state[k])]
    assert not bad, f"{what}: seeded weights differ in {bad[:5]}"


def _assert_same(ref: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    assert ref.keys() == got.keys()
    bad = {k: float((ref[k] - got[k]).abs().max()) for k in ref if not torch.equal(ref[k], got[k])}
    assert not bad, f"differ: {dict(list(bad.items())[:8])}"


def _grads(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"grad.{prefix}.{n}": p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}


def _padding_masks(sizes: list[torch.Size]) -> list[torch.Tensor]:
    """Per level, True where a position of the padded batch lies outside its image (mmdet's interpolation)."""
    masks = torch.ones(len(IMAGE_SHAPES), *BATCH_SHAPE)
    for i, (h, w) in enumerate(IMAGE_SHAPES):
        masks[i, :h, :w] = 0
    return [torch.nn.functional.interpolate(masks[None], size=size).to(torch.bool)[0] for size in sizes]


def _run(neck, positional, encoder, decoder, reg_branches, level_embed, inputs) -> dict[str, torch.Tensor]:
    feats = [x.clone().requires_grad_(True) for x in inputs["feats"]]
    query = inputs["query"].clone().requires_grad_(True)
    query_pos = inputs["query_pos"].clone().requires_grad_(True)
    outs = neck(feats)
    masks = _padding_masks([o.shape[2:] for o in outs])  # 4 levels: the neck adds a stride-64 one
    memory, pos, padding, shapes = [], [], [], []
    for level, (feat, mask) in enumerate(zip(outs, masks)):
        shapes.append(feat.shape[2:])
        memory.append(feat.flatten(2).transpose(1, 2))
        pos.append(positional(mask).flatten(2).transpose(1, 2) + level_embed[level].view(1, 1, -1))
        padding.append(mask.flatten(1))
    spatial_shapes = torch.as_tensor(shapes, dtype=torch.long)
    level_start_index = torch.cat((spatial_shapes.new_zeros(1), spatial_shapes.prod(1).cumsum(0)[:-1]))
    valid = torch.stack([torch.stack([(~m[:, :, 0]).sum(1) / m.shape[1], (~m[:, 0, :]).sum(1) / m.shape[2]], -1)
                         for m in masks], 1)  # fmt: skip
    valid_ratios = valid[..., [1, 0]].float()  # (w, h) as mmdet's get_valid_ratio
    memory = encoder(torch.cat(memory, 1), torch.cat(pos, 1), torch.cat(padding, 1), spatial_shapes,
                     level_start_index, valid_ratios)  # fmt: skip
    hidden, references = decoder(query, query_pos, memory, torch.cat(padding, 1), inputs["reference_points"],
                                 spatial_shapes, level_start_index, valid_ratios,
                                 reg_branches=reg_branches)  # fmt: skip
    total = sum((t * torch.randn(t.shape, generator=torch.Generator().manual_seed(i))).sum()
                for i, t in enumerate([*outs, memory, hidden]))  # fmt: skip
    total.backward()
    record = {f"neck.{i}": o.detach() for i, o in enumerate(outs)}
    record.update({"memory": memory.detach(), "hidden": hidden.detach(), "references": references.detach()})
    record.update({f"grad.feat.{i}": f.grad for i, f in enumerate(feats)})
    record.update({"grad.query": query.grad, "grad.query_pos": query_pos.grad})
    for prefix, module in (("neck", neck), ("encoder", encoder), ("decoder", decoder), ("reg", reg_branches)):
        record.update(_grads(prefix, module))
    return record


@pytest.mark.live
def test_deformable_detr_neck_encoding_encoder_decoder_match_mmdet() -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.models.layers import SinePositionalEncoding as RefSine
    from mmdet.models.layers.transformer.deformable_detr_layers import (
        DeformableDetrTransformerDecoder as RefDecoder,
    )
    from mmdet.models.layers.transformer.deformable_detr_layers import (
        DeformableDetrTransformerEncoder as RefEncoder,
    )
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from visdet.build import build_component

    register_all_modules()
    base = _config("deformable-detr_r50_16xb2-50e_coco.py").model
    refine = _config("deformable-detr-refine_r50_16xb2-50e_coco.py").model
    assert refine.with_box_refine and refine.decoder.num_layers == 6

    torch.manual_seed(0)
    ref_neck = MODELS.build(base.neck)
    ref_neck.init_weights()
    ref_encoder = RefEncoder(**base.encoder)
    ref_decoder = RefDecoder(**refine.decoder)
    torch.manual_seed(0)
    neck = build_component("neck", base.neck.to_dict())
    neck.init_weights()
    encoder = build_component("transformer", {"type": "DeformableDetrTransformerEncoder", **base.encoder.to_dict()})
    decoder = build_component("transformer", {"type": "DeformableDetrTransformerDecoder", **refine.decoder.to_dict()})
    for what, ref, got in (("neck", ref_neck, neck), ("encoder", ref_encoder, encoder),
                           ("decoder", ref_decoder, decoder)):  # fmt: skip
        _equal_states(ref, got, what)
    ref_positional = RefSine(**base.positional_encoding)
    positional = build_component("positional_encoding", {"type": "SinePositionalEncoding",
                                                         **base.positional_encoding.to_dict()})  # fmt: skip

    gen = torch.Generator().manual_seed(1)
    embed = base.encoder.layer_cfg.self_attn_cfg.embed_dims
    with torch.no_grad():  # trained-like weights: the init leaves attention weights and offsets at zero
        for module in (ref_neck, ref_encoder, ref_decoder):
            for _, param in sorted(module.named_parameters()):
                param.add_(0.05 * torch.randn(param.shape, generator=gen))
    neck.load_state_dict(ref_neck.state_dict(), strict=True)
    encoder.load_state_dict(ref_encoder.state_dict(), strict=True)
    decoder.load_state_dict(ref_decoder.state_dict(), strict=True)
    reg_branches = torch.nn.ModuleList(torch.nn.Linear(embed, 4) for _ in range(refine.decoder.num_layers))
    level_embed = torch.randn(base.encoder.layer_cfg.self_attn_cfg.get("num_levels", 4), embed, generator=gen)
    inputs = {
        "feats": [torch.randn(2, c, -(-BATCH_SHAPE[0] // s), -(-BATCH_SHAPE[1] // s), generator=gen)
                  for c, s in zip(IN_CHANNELS, STRIDES)],
        "query": torch.randn(2, 300, embed, generator=gen),
        "query_pos": torch.randn(2, 300, embed, generator=gen),
        "reference_points": torch.rand(2, 300, 2, generator=gen),
    }  # fmt: skip
    for module in (ref_neck, ref_encoder, ref_decoder, neck, encoder, decoder):
        module.eval()
    ref = _run(ref_neck, ref_positional, ref_encoder, ref_decoder, reg_branches, level_embed, inputs)
    reg_branches.zero_grad()
    got = _run(neck, positional, encoder, decoder, reg_branches, level_embed, inputs)
    _assert_same(ref, got)


@pytest.mark.live
def test_dino_decoder_matches_mmdet() -> None:
    """DINO-4scale's decoder (6 layers, 256 channels, 2048-wide FFN) from mmdet's config: seeded construction,
    then float32 eval outputs, references and every gradient of 900 queries with a denoising-style mask."""
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    import mmdet
    from mmdet.models.layers.transformer.dino_layers import DinoTransformerDecoder as RefDecoder
    from mmengine.config import Config

    from visdet.build import build_component

    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "dino",
                                       "dino-4scale_r50_8xb2-12e_coco.py")).model  # fmt: skip
    torch.manual_seed(0)
    ref = RefDecoder(**cfg.decoder)
    torch.manual_seed(0)
    got = build_component("transformer", {"type": "DinoTransformerDecoder", **cfg.decoder.to_dict()})
    _equal_states(ref, got, "DINO decoder")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, param in sorted(ref.named_parameters()):
            param.add_(0.05 * torch.randn(param.shape, generator=gen))
    got.load_state_dict(ref.state_dict(), strict=True)
    embed, queries, layers = 256, 900, cfg.decoder.num_layers
    reg_branches = torch.nn.ModuleList(torch.nn.Linear(embed, 4) for _ in range(layers))
    shapes = torch.tensor([[32, 40], [16, 20], [8, 10], [4, 5]])
    starts = torch.cat((shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]))
    keys = int(shapes.prod(1).sum())
    memory = torch.randn(2, keys, embed, generator=gen)
    query = torch.randn(2, queries, embed, generator=gen)
    boxes = torch.rand(2, queries, 4, generator=gen) * torch.tensor([1.0, 1.0, 0.5, 0.5])
    padding = torch.zeros(2, keys, dtype=torch.bool)
    padding[1, -300:] = True
    blocked = torch.zeros(queries, queries, dtype=torch.bool)
    blocked[:100, 100:] = True  # a denoising group that sees only itself
    valid_ratios = torch.tensor([[[1.0, 1.0]] * 4, [[0.8, 0.7]] * 4])

    def run(decoder) -> dict[str, torch.Tensor]:
        decoder.eval()
        reg_branches.zero_grad()
        inputs = [t.clone().requires_grad_(True) for t in (query, memory)]
        hidden, references = decoder(inputs[0], inputs[1], padding, blocked, boxes, shapes, starts, valid_ratios,
                                     reg_branches=reg_branches)  # fmt: skip
        total = (hidden * torch.randn(hidden.shape, generator=torch.Generator().manual_seed(5))).sum()
        total = total + (references * torch.randn(references.shape, generator=torch.Generator().manual_seed(6))).sum()
        total.backward()
        record = {"hidden": hidden.detach(), "references": references.detach(), "grad.query": inputs[0].grad,
                  "grad.memory": inputs[1].grad}  # fmt: skip
        record.update(_grads("decoder", decoder))
        record.update(_grads("reg", reg_branches))
        return record

    _assert_same(run(ref), run(got))
