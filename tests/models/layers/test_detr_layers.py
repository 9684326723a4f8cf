"""MultiScaleDeformableAttention, the positional encodings and ChannelMapper: behaviour checked by hand."""

import math
import warnings

import pytest
import torch

from visdet.models.layers import LearnedPositionalEncoding, MultiScaleDeformableAttention, SinePositionalEncoding
from visdet.models.layers.multi_scale_deform_attn import sampling_offset_grid
from visdet.models.necks import ChannelMapper


def _attention(**kwargs):
    options = dict(embed_dims=8, num_heads=2, num_levels=2, num_points=2, dropout=0.0, batch_first=True)
    return MultiScaleDeformableAttention(**{**options, **kwargs})


def _geometry():
    shapes = torch.tensor([[3, 4], [2, 2]])
    return shapes, torch.tensor([0, 12]), 16


def test_offset_grid_points_along_each_heads_angle():
    grid = sampling_offset_grid(4, 2, 3).view(4, 2, 3, 2)
    # head h at angle h * 90 degrees, scaled so the larger component is 1; point p at p + 1 times it
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    for point in range(3):
        for level in range(2):
            torch.testing.assert_close(grid[:, level, point], directions * (point + 1), atol=1e-6, rtol=0)
    diagonal = sampling_offset_grid(8, 1, 1).view(8, 2)[1]  # 45 degrees: (1, 1) after scaling
    torch.testing.assert_close(diagonal, torch.tensor([1.0, 1.0]))


def test_init_zeroes_attention_and_offset_weights_and_keeps_the_dtype():
    attention = _attention()
    assert not attention.sampling_offsets.weight.any() and not attention.attention_weights.weight.any()
    assert not attention.attention_weights.bias.any() and not attention.value_proj.bias.any()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        double = _attention()
    finally:
        torch.set_default_dtype(previous)
    # mmcv's init would leave a float32 bias in a float64 module; visdet keeps the module's dtype
    assert double.sampling_offsets.bias.dtype == torch.float64


def test_padded_keys_do_not_change_the_output():
    torch.manual_seed(0)
    attention = _attention()
    for param in attention.parameters():
        param.data.normal_()
    shapes, starts, keys = _geometry()
    query, value = torch.randn(1, 3, 8), torch.randn(1, keys, 8)
    mask = torch.zeros(1, keys, dtype=torch.bool)
    mask[0, 12:] = True  # the whole second level is padding
    changed = value.clone()
    changed[0, 12:] = 1e3
    ref = torch.rand(1, 3, 2, 2)
    a = attention(query, value=value, key_padding_mask=mask, reference_points=ref, spatial_shapes=shapes)
    b = attention(query, value=changed, key_padding_mask=mask, reference_points=ref, spatial_shapes=shapes)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_first_and_sequence_first_agree():
    torch.manual_seed(1)
    first = _attention()
    second = _attention(batch_first=False)
    second.load_state_dict(first.state_dict())
    shapes, starts, keys = _geometry()
    query, value, pos = torch.randn(2, 3, 8), torch.randn(2, keys, 8), torch.randn(2, 3, 8)
    ref = torch.rand(2, 3, 2, 4)
    a = first(query, value=value, query_pos=pos, reference_points=ref, spatial_shapes=shapes)
    b = second(query.transpose(0, 1), value=value.transpose(0, 1), query_pos=pos.transpose(0, 1),
               reference_points=ref, spatial_shapes=shapes)  # fmt: skip
    torch.testing.assert_close(a, b.transpose(0, 1), rtol=0, atol=0)


def test_errors_and_deprecated_residual():
    with pytest.raises(ValueError, match="divisible"):
        MultiScaleDeformableAttention(embed_dims=10, num_heads=4)
    attention = _attention()
    shapes, _, keys = _geometry()
    query = torch.randn(1, 2, 8)
    with pytest.raises(ValueError, match="2 or 4"):
        attention(query, value=torch.randn(1, keys, 8), reference_points=torch.rand(1, 2, 2, 3), spatial_shapes=shapes)
    with pytest.raises(ValueError, match="cover 16 keys"):
        attention(query, value=torch.randn(1, 5, 8), reference_points=torch.rand(1, 2, 2, 2), spatial_shapes=shapes)
    # at init the output projection's bias is zero: with zero value the output is the identity
    residual = torch.randn(1, 2, 8)
    with pytest.warns(UserWarning, match="residual"):
        out = attention(query, value=torch.zeros(1, keys, 8), residual=residual,
                        reference_points=torch.rand(1, 2, 2, 2), spatial_shapes=shapes)  # fmt: skip
    torch.testing.assert_close(out, residual)


def test_sine_encoding_by_hand():
    # num_feats=2: both frequencies are 1, so channels are sin(y), cos(y), sin(x), cos(x) of 1-based counts
    mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    mask[0, :, 2] = True  # the last column is padding: its x count repeats the previous one, its y count is 0
    pos = SinePositionalEncoding(2)(mask)
    y = torch.tensor([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    x = torch.tensor([[1.0, 2.0, 2.0], [1.0, 2.0, 2.0]])
    torch.testing.assert_close(pos[0], torch.stack([y.sin(), y.cos(), x.sin(), x.cos()]))
    # normalised: (count + offset) / (last count + eps) * scale
    norm = SinePositionalEncoding(2, normalize=True, offset=-0.5, eps=0.0, scale=1.0)(mask)
    torch.testing.assert_close(norm[0, 0, :, 0], torch.tensor([0.5 / 2, 1.5 / 2]).sin())
    torch.testing.assert_close(norm[0, 2, 0], torch.tensor([0.5 / 2, 1.5 / 2, 1.5 / 2]).sin())


def test_sine_encoding_without_mask_equals_an_all_valid_mask():
    module = SinePositionalEncoding(6, normalize=True, temperature=20)
    torch.testing.assert_close(module(None, torch.zeros(2, 3, 4, 5)), module(torch.zeros(2, 4, 5, dtype=torch.int)))
    with pytest.raises(ValueError):
        module(None)
    assert math.isclose(SinePositionalEncoding(4).scale, 2 * math.pi)


def test_learned_encoding_layout_and_init():
    torch.manual_seed(0)
    module = LearnedPositionalEncoding(3, row_num_embed=4, col_num_embed=5)
    module.init_weights()
    for weight in (module.row_embed.weight, module.col_embed.weight):
        assert bool(((weight >= 0) & (weight < 1)).all())
    pos = module(torch.zeros(2, 2, 4))
    assert pos.shape == (2, 6, 2, 4)
    torch.testing.assert_close(pos[1, :3, 1, 2], module.col_embed.weight[2])  # columns first
    torch.testing.assert_close(pos[0, 3:, 1, 2], module.row_embed.weight[1])
    with pytest.raises(NotImplementedError):
        LearnedPositionalEncoding(3, init_cfg={"type": "Normal"})


def test_channel_mapper_layout():
    mapper = ChannelMapper(in_channels=[2, 3], out_channels=4, kernel_size=1, norm_cfg={"type": "GN", "num_groups": 2},
                           act_cfg=None, num_outs=4)  # fmt: skip
    keys = set(mapper.state_dict())
    assert {"convs.0.conv.weight", "convs.1.gn.bias", "extra_convs.0.conv.weight", "extra_convs.1.gn.weight"} <= keys
    assert "convs.0.conv.bias" not in keys  # bias 'auto' with a norm
    assert mapper.extra_convs[0].conv.in_channels == 3 and mapper.extra_convs[1].conv.in_channels == 4
    outs = mapper([torch.randn(1, 2, 8, 8), torch.randn(1, 3, 5, 7)])
    assert [tuple(o.shape) for o in outs] == [(1, 4, 8, 8), (1, 4, 5, 7), (1, 4, 3, 4), (1, 4, 2, 2)]
    biased = ChannelMapper(in_channels=[2], out_channels=4, bias=True, norm_cfg={"type": "GN", "num_groups": 2})
    assert biased.convs[0].conv.bias is not None and biased.extra_convs is None


def test_multihead_attention_dropout_deprecation_as_mmcv():
    """mmcv 2.1 warns (DeprecationWarning) for every `dropout` given to MultiheadAttention, and only then."""
    from visdet.models.layers import DeformableDetrTransformerDecoderLayer, MultiheadAttention

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiheadAttention(8, 2, attn_drop=0.1, dropout_layer={"type": "Dropout", "drop_prob": 0.1})
        # the layer's own default (mmdet's, spelt with `dropout: 0.0`) is not the user's argument
        DeformableDetrTransformerDecoderLayer()
    with pytest.warns(DeprecationWarning, match="`dropout` in MultiheadAttention has been deprecated"):
        module = MultiheadAttention(8, 2, dropout=0.3)
    # as mmcv: `dropout` sets the attention's dropout and the branch's dropout probability
    assert module.attn.dropout == 0.3 and module.dropout_layer.p == 0.3
    self_attn_cfg = {"embed_dims": 8, "num_heads": 2, "dropout": 0.0}
    msda = {"embed_dims": 8, "num_heads": 2, "num_levels": 1, "num_points": 1}
    with pytest.warns(DeprecationWarning, match="`dropout` in MultiheadAttention"):
        DeformableDetrTransformerDecoderLayer(self_attn_cfg=self_attn_cfg, cross_attn_cfg=msda,
                                              ffn_cfg={"embed_dims": 8, "feedforward_channels": 16})  # fmt: skip
