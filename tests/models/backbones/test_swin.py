"""SwinTransformer beyond the ported upstream tests: original-checkpoint conversion,
pretrained loading (never downloading), init, freezing, layers' edge cases, and live
comparisons with mmdet (keys, init seed for seed, swin_converter, optimizer groups)."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from parity.reference import reference_missing
from visdet.models.backbones import SwinTransformer, swin_converter
from visdet.models.backbones.swin_attention import relative_position_index, shift_attention_mask
from visdet.models.layers import DropPath, PatchEmbed, PatchMerging, drop_path

TINY = {"embed_dims": 8, "depths": [2, 2], "num_heads": [1, 2], "strides": [4, 2], "window_size": 3,
        "out_indices": [0, 1], "drop_path_rate": 0.0}  # fmt: skip


def _original_merge(x: torch.Tensor, hw: tuple[int, int], norm: nn.LayerNorm, reduction: nn.Linear) -> torch.Tensor:
    """The original Swin PatchMerging: concatenate x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]."""
    b, _, c = x.shape
    x = x.view(b, *hw, c)
    parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
    return reduction(norm(torch.cat(parts, -1).view(b, -1, 4 * c)))


def _original_checkpoint(gen: torch.Generator) -> OrderedDict:
    """A synthetic checkpoint of TINY in Microsoft's naming (with the classifier and attn_mask buffers)."""
    ckpt = OrderedDict()

    def rand(*shape):
        return torch.randn(shape, generator=gen)

    ckpt["patch_embed.proj.weight"], ckpt["patch_embed.proj.bias"] = rand(8, 3, 4, 4), rand(8)
    ckpt["patch_embed.norm.weight"], ckpt["patch_embed.norm.bias"] = rand(8), rand(8)
    for i, (c, heads) in enumerate(((8, 1), (16, 2))):
        for j in range(2):
            p = f"layers.{i}.blocks.{j}."
            ckpt[p + "norm1.weight"], ckpt[p + "norm1.bias"] = rand(c), rand(c)
            ckpt[p + "attn.relative_position_bias_table"] = rand(25, heads)
            ckpt[p + "attn.relative_position_index"] = relative_position_index(3, 3)
            ckpt[p + "attn.qkv.weight"], ckpt[p + "attn.qkv.bias"] = rand(3 * c, c), rand(3 * c)
            ckpt[p + "attn.proj.weight"], ckpt[p + "attn.proj.bias"] = rand(c, c), rand(c)
            ckpt[p + "norm2.weight"], ckpt[p + "norm2.bias"] = rand(c), rand(c)
            ckpt[p + "mlp.fc1.weight"], ckpt[p + "mlp.fc1.bias"] = rand(4 * c, c), rand(4 * c)
            ckpt[p + "mlp.fc2.weight"], ckpt[p + "mlp.fc2.bias"] = rand(c, 4 * c), rand(c)
            if j == 1:
                ckpt[p + "attn_mask"] = rand(4, 9, 9)
    ckpt["layers.0.downsample.norm.weight"], ckpt["layers.0.downsample.norm.bias"] = rand(32), rand(32)
    ckpt["layers.0.downsample.reduction.weight"] = rand(16, 32)
    ckpt["norm.weight"], ckpt["norm.bias"] = rand(16), rand(16)
    ckpt["head.weight"], ckpt["head.bias"] = rand(1000, 16), rand(1000)
    return ckpt


def test_converted_patch_merging_computes_the_original_merge():
    gen = torch.Generator().manual_seed(0)
    norm, reduction = nn.LayerNorm(4 * 6), nn.Linear(4 * 6, 12, bias=False)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(24, generator=gen))
        norm.bias.copy_(torch.randn(24, generator=gen))
    original = {"layers.0.downsample.norm.weight": norm.weight.detach(), "layers.0.downsample.norm.bias":
                norm.bias.detach(), "layers.0.downsample.reduction.weight": reduction.weight.detach()}  # fmt: skip
    converted = swin_converter(original)
    merge = PatchMerging(in_channels=6, out_channels=12)
    merge.load_state_dict({k.removeprefix("backbone.stages.0.downsample."): v for k, v in converted.items()})
    x = torch.randn(2, 6 * 10, 6, generator=gen)
    out, size = merge(x, (6, 10))
    assert size == (3, 5)
    torch.testing.assert_close(out, _original_merge(x, (6, 10), norm, reduction), rtol=1e-6, atol=1e-6)


def test_swin_converter_names_and_load_pretrained(tmp_path):
    ckpt = _original_checkpoint(torch.Generator().manual_seed(1))
    converted = swin_converter(ckpt)
    assert all(k.startswith("backbone.") for k in converted)
    assert not any(".head." in k or k.startswith("backbone.head") for k in converted)
    assert torch.equal(converted["backbone.stages.1.blocks.0.attn.w_msa.qkv.weight"],
                       ckpt["layers.1.blocks.0.attn.qkv.weight"])  # fmt: skip
    assert torch.equal(
        converted["backbone.stages.0.blocks.1.ffn.layers.0.0.bias"], ckpt["layers.0.blocks.1.mlp.fc1.bias"]
    )
    assert torch.equal(
        converted["backbone.stages.0.blocks.1.ffn.layers.1.weight"], ckpt["layers.0.blocks.1.mlp.fc2.weight"]
    )
    assert torch.equal(converted["backbone.patch_embed.projection.weight"], ckpt["patch_embed.proj.weight"])

    path = tmp_path / "swin_original.pth"
    torch.save({"model": ckpt}, path)
    model = SwinTransformer(**TINY, convert_weights=True, init_cfg={"type": "Pretrained", "checkpoint": str(path)})
    missing, unexpected = model.load_pretrained(str(path))
    # the original has one final norm; mmdet has one per output (norm0, norm1), left as initialised
    assert sorted(missing) == ["norm0.bias", "norm0.weight", "norm1.bias", "norm1.weight"]
    assert sorted(unexpected) == [
        "norm.bias",
        "norm.weight",
        "stages.0.blocks.1.attn_mask",
        "stages.1.blocks.1.attn_mask",
    ]
    state = model.state_dict()
    for key, value in converted.items():
        name = key.removeprefix("backbone.")
        if name in state:
            assert torch.equal(state[name], value), name
    model.init_weights()  # init_cfg Pretrained: loads the same file
    assert torch.equal(model.state_dict()["stages.0.downsample.reduction.weight"],
                       converted["backbone.stages.0.downsample.reduction.weight"])  # fmt: skip


def test_load_pretrained_resizes_bias_tables_and_refuses_urls_and_unconverted_files(tmp_path):
    ckpt = swin_converter(_original_checkpoint(torch.Generator().manual_seed(2)))
    path = tmp_path / "converted.pth"
    torch.save({"state_dict": ckpt}, path)
    model = SwinTransformer(**{**TINY, "window_size": 4})  # tables of 7x7 instead of 5x5
    missing, _ = model.load_pretrained(str(path))
    assert not any("relative_position_bias_table" in k for k in missing)
    assert model.stages[0].blocks[0].attn.w_msa.relative_position_bias_table.shape == (49, 1)
    with pytest.raises(ValueError, match="never downloads"):
        SwinTransformer(
            **TINY, init_cfg={"type": "Pretrained", "checkpoint": "https://example.org/swin.pth"}
        ).init_weights()
    raw = tmp_path / "original.pth"
    torch.save(_original_checkpoint(torch.Generator().manual_seed(3)), raw)
    with pytest.raises(ValueError, match="convert_weights=True"):
        SwinTransformer(**TINY).load_pretrained(str(raw))
    with pytest.raises(NotImplementedError):
        SwinTransformer(**TINY, init_cfg={"type": "Kaiming"})
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        SwinTransformer(**TINY, pretrained="a.pth", init_cfg={"type": "Pretrained", "checkpoint": "b.pth"})


def test_init_weights_and_frozen_stages():
    model = SwinTransformer(**TINY, use_abs_pos_embed=True, pretrain_img_size=(24, 36), frozen_stages=1)
    model.init_weights()
    linear = model.stages[1].blocks[0].attn.w_msa.qkv
    assert linear.bias.abs().max() == 0 and 0 < linear.weight.std() < 0.03
    assert model.absolute_pos_embed.abs().max() > 0
    assert all(not p.requires_grad for p in model.patch_embed.parameters())
    assert not model.absolute_pos_embed.requires_grad
    assert all(not p.requires_grad for p in [*model.stages[0].parameters(), *model.norm0.parameters()])
    assert all(p.requires_grad for p in [*model.stages[1].parameters(), *model.norm1.parameters()])
    model.train()
    assert not model.stages[0].training and not model.norm0.training and model.stages[1].training
    outs = model(torch.randn(1, 3, 24, 36))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 6, 9), (1, 16, 3, 5)]
    assert model.out_channels == (8, 16)
    with pytest.raises(ValueError, match="expects input of shape"):
        model(torch.randn(1, 1, 24, 36))


def test_drop_path_rates_and_layers():
    model = SwinTransformer(**{**TINY, "drop_path_rate": 0.3})
    rates = [block.ffn.dropout_layer.drop_prob for stage in model.stages for block in stage.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [block.attn.drop.drop_prob for stage in model.stages for block in stage.blocks] == rates
    x = torch.ones(64, 3, 2, dtype=torch.float64)
    torch.manual_seed(0)
    dropped = drop_path(x, 0.25, training=True)
    kept = dropped[:, 0, 0]
    assert set(kept.tolist()) <= {0.0, 1 / 0.75} and 0 < int((kept == 0).sum()) < 64
    assert torch.equal(drop_path(x, 0.25, training=False), x)
    assert torch.equal(DropPath(0.0).train()(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_shift_mask_and_patch_embed_padding():
    mask = shift_attention_mask(6, 6, 3, 1)
    assert mask.shape == (4, 9, 9)
    assert (mask[0] == 0).all()  # the top-left window holds one region
    assert set(mask.unique().tolist()) == {-100.0, 0.0}
    embed = PatchEmbed(in_channels=3, embed_dims=4, kernel_size=4, stride=4, input_size=(10, 13))
    assert embed.init_out_size == (3, 4)
    out, size = embed(torch.randn(1, 3, 10, 13))
    assert size == (3, 4) and out.shape == (1, 12, 4)
    same = PatchEmbed(in_channels=3, embed_dims=4, kernel_size=4, stride=4, padding="same")
    assert same(torch.randn(1, 3, 10, 13))[1] == (3, 4)
    fixed = PatchEmbed(in_channels=3, embed_dims=4, kernel_size=3, stride=2, padding=1, norm_cfg={"type": "LN"})
    assert fixed(torch.randn(1, 3, 10, 13))[1] == (5, 7)
    with pytest.raises(ValueError, match="wrong size"):
        PatchMerging(in_channels=4, out_channels=8)(torch.randn(1, 10, 4), (3, 4))


# ------------------------------------------------------------------ live, against mmdet
@pytest.fixture(scope="module")
def reference():
    missing = reference_missing()
    if missing:
        pytest.skip(missing)


@pytest.mark.live
def test_swin_converter_matches_mmdet(reference):
    from mmdet.models.backbones.swin import swin_converter as mm_swin_converter

    ckpt = _original_checkpoint(torch.Generator().manual_seed(4))
    expected = mm_swin_converter(ckpt)
    got = swin_converter(ckpt)
    assert list(got) == list(expected)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key


@pytest.mark.live
def test_full_size_keys_and_seeded_init_match_mmdet(reference):
    from mmdet.models.backbones.swin import SwinTransformer as MMSwin

    kwargs = {"drop_path_rate": 0.2, "use_abs_pos_embed": True}
    torch.manual_seed(3)
    ref = MMSwin(**kwargs)
    ref.init_weights()
    torch.manual_seed(3)
    model = SwinTransformer(**kwargs)
    model.init_weights()
    ref_state, state = ref.state_dict(), model.state_dict()
    assert list(state) == list(ref_state)
    for key, value in ref_state.items():
        assert torch.equal(state[key], value), key


@pytest.mark.live
def test_swin_optimizer_groups_match_mmengine(reference):
    """The Swin config's paramwise_cfg: the same weight decay for every parameter as mmengine's constructor."""
    from mmdet.models.backbones.swin import SwinTransformer as MMSwin
    from mmengine.optim import build_optim_wrapper

    from visdet.engine.optim.builder import param_groups

    custom_keys = {"absolute_pos_embed": {"decay_mult": 0.0}, "relative_position_bias_table": {"decay_mult": 0.0},
                   "norm": {"decay_mult": 0.0}}  # fmt: skip
    ref = MMSwin(**TINY, use_abs_pos_embed=True, pretrain_img_size=(24, 36))
    wrapper = build_optim_wrapper(ref, {"type": "OptimWrapper", "paramwise_cfg": {"custom_keys": custom_keys},
                                        "optimizer": {"type": "AdamW", "lr": 1e-4, "weight_decay": 0.05}})  # fmt: skip
    names = {id(p): n for n, p in ref.named_parameters()}
    expected = {names[id(p)]: g["weight_decay"] for g in wrapper.optimizer.param_groups for p in g["params"]}
    model = SwinTransformer(**TINY, use_abs_pos_embed=True, pretrain_img_size=(24, 36))
    groups = param_groups(model, lr=1e-4, weight_decay=0.05, custom_keys=custom_keys)
    got = {name: g["weight_decay"] for g in groups for name in g["names"]}
    assert got == pytest.approx(expected)
    assert got["stages.0.blocks.0.attn.w_msa.relative_position_bias_table"] == 0.0
    assert got["stages.0.blocks.0.attn.w_msa.qkv.weight"] == 0.05


def test_deprecated_pretrained_loads_nothing_as_in_mmdet(tmp_path):
    """mmdet 3.3's SwinTransformer overwrites the Pretrained init_cfg it builds from `pretrained`."""
    missing_file = tmp_path / "not_there.pth"
    with pytest.warns(UserWarning, match="loads nothing"):
        model = SwinTransformer(**TINY, pretrained=str(missing_file))
    assert model.init_cfg is None
    model.init_weights()  # raises FileNotFoundError if it tries to load the missing file
