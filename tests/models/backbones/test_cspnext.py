"""CSPNeXt: widths, depths, names, freezing and init, with expectations derived by hand from mmdet's formulas."""

import math

import pytest
import torch
from torch import nn

from visdet.models.backbones import CSPNeXt
from visdet.models.layers import CSPLayer, DepthwiseSeparableConvModule, SPPBottleneck

TINY = {"deepen_factor": 0.167, "widen_factor": 0.375}


def _blocks(model, stage):
    return len(getattr(model, f"stage{stage}")[-1].blocks)


@pytest.mark.parametrize(
    ("deepen", "widen", "widths", "blocks"),
    [
        # widths int(c * w) for c = 64 (stem), 128, 256, 512, 1024; blocks max(round(n * d), 1) for n = 3, 6, 6, 3
        (0.167, 0.375, [24, 48, 96, 192, 384], [1, 1, 1, 1]),  # rtmdet-tiny
        (0.33, 0.5, [32, 64, 128, 256, 512], [1, 2, 2, 1]),  # rtmdet-s
        (0.67, 0.75, [48, 96, 192, 384, 768], [2, 4, 4, 2]),  # rtmdet-m
    ],
)
def test_widths_and_depths_of_the_rtmdet_sizes(deepen, widen, widths, blocks):
    model = CSPNeXt(deepen_factor=deepen, widen_factor=widen, out_indices=(0, 1, 2, 3, 4))
    assert model.out_channels == tuple(widths)
    assert model.stem[0].conv.out_channels == widths[0] // 2 and model.stem[2].conv.out_channels == widths[0]
    assert [_blocks(model, s) for s in (1, 2, 3, 4)] == blocks
    outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // 2**i, 96 // 2**i) for i, c in enumerate(widths, start=1)]


def test_default_outputs_are_strides_8_16_32_and_odd_sizes_round_up():
    model = CSPNeXt(**TINY).eval()
    outs = model(torch.randn(2, 3, 65, 33))
    # each stride-2 3x3 conv with padding 1 maps n to ceil(n / 2): 65 -> 33 -> 17 -> 9 -> 5 -> 3
    assert [tuple(o.shape) for o in outs] == [(2, 96, 9, 5), (2, 192, 5, 3), (2, 384, 3, 2)]


def test_stage_layout_and_state_dict_names():
    model = CSPNeXt(**TINY)
    keys = set(model.state_dict())
    for stage in (1, 2, 3):
        layers = getattr(model, f"stage{stage}")
        assert len(layers) == 2 and isinstance(layers[1], CSPLayer)
        assert layers[1].blocks[0].add_identity  # add_identity=True in stages 1-3
    last = model.stage4
    assert len(last) == 3 and isinstance(last[1], SPPBottleneck) and isinstance(last[2], CSPLayer)
    assert not last[2].blocks[0].add_identity  # the SPP stage has no identity
    assert [p.kernel_size for p in last[1].poolings] == [5, 9, 13]
    for key in (
        "stem.0.conv.weight",
        "stem.2.bn.running_var",
        "stage1.0.conv.weight",
        "stage1.1.main_conv.conv.weight",
        "stage1.1.short_conv.bn.weight",
        "stage1.1.final_conv.conv.weight",
        "stage1.1.blocks.0.conv1.conv.weight",
        "stage1.1.blocks.0.conv2.depthwise_conv.conv.weight",
        "stage1.1.blocks.0.conv2.pointwise_conv.bn.bias",
        "stage1.1.attention.fc.weight",
        "stage1.1.attention.fc.bias",
        "stage4.1.conv1.conv.weight",
        "stage4.1.conv2.bn.num_batches_tracked",
        "stage4.2.final_conv.bn.running_mean",
    ):
        assert key in keys, key
    # the block's second conv is a 5x5 depthwise conv over the hidden width (expansion 1.0 in a CSP layer)
    dw = model.stage1[1].blocks[0].conv2.depthwise_conv.conv
    assert dw.kernel_size == (5, 5) and dw.groups == dw.in_channels == 24 and dw.padding == (2, 2)
    # convs before a norm have no bias; the attention's 1x1 conv has one
    assert not any(k.endswith("conv.bias") for k in keys)
    assert model.stage1[1].attention.fc.in_channels == 48  # 2 * int(48 * 0.5)


def test_norm_and_activation_defaults_and_syncbn():
    model = CSPNeXt(**TINY)
    bn = model.stem[0].bn
    assert type(bn) is nn.BatchNorm2d and bn.momentum == 0.03 and bn.eps == 0.001
    assert type(model.stem[0].activate) is nn.SiLU and model.stem[0].activate.inplace
    synced = CSPNeXt(**TINY, norm_cfg={"type": "SyncBN"}, channel_attention=False)
    assert type(synced.stem[0].bn) is nn.SyncBatchNorm and synced.stem[0].bn.eps == 1e-5
    assert not hasattr(synced.stage1[1], "attention")
    synced.train()
    out = synced(torch.randn(2, 3, 32, 32))  # one process: batch statistics as plain BN
    assert out[-1].shape == (2, 384, 1, 1)


def test_p6_has_five_stages_and_spp_in_the_last():
    model = CSPNeXt(arch="P6", **TINY, out_indices=(2, 3, 4, 5))
    assert model.layers == ["stem", "stage1", "stage2", "stage3", "stage4", "stage5"]
    assert model.out_channels == (96, 192, 288, 384)
    assert isinstance(model.stage5[1], SPPBottleneck) and len(model.stage4) == 2
    assert model.stage4[1].blocks[0].add_identity and not model.stage5[2].blocks[0].add_identity
    outs = model(torch.randn(1, 3, 128, 128))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]


def test_use_depthwise_swaps_the_stride_convs_and_block_conv1():
    model = CSPNeXt(**TINY, use_depthwise=True)
    down = model.stage2[0]
    assert isinstance(down, DepthwiseSeparableConvModule)
    assert down.depthwise_conv.conv.groups == 48 and down.depthwise_conv.conv.stride == (2, 2)
    assert isinstance(model.stage2[1].blocks[0].conv1, DepthwiseSeparableConvModule)
    assert isinstance(model.stem[0].conv, nn.Conv2d)  # the stem stays plain
    assert model.eval()(torch.randn(1, 3, 32, 32))[0].shape == (1, 96, 4, 4)


def test_arch_ovewrite_replaces_the_stage_settings():
    model = CSPNeXt(arch_ovewrite=[[8, 16, 1, True, False], [16, 32, 2, False, True]], out_indices=(1, 2))
    assert model.layers == ["stem", "stage1", "stage2"]
    assert model.out_channels == (16, 32) and _blocks(model, 2) == 2
    assert isinstance(model.stage2[1], SPPBottleneck)
    assert [o.shape[1] for o in model(torch.randn(1, 3, 16, 16))] == [16, 32]


def test_frozen_stages_take_effect_at_train_as_in_mmdet():
    model = CSPNeXt(**TINY, frozen_stages=1)
    assert all(p.requires_grad for p in model.parameters())  # mmdet freezes in train(), not in __init__
    model.train()
    for name, param in model.named_parameters():
        assert param.requires_grad == (not name.startswith(("stem.", "stage1."))), name
    assert not model.stem.training and not model.stage1.training and model.stage2.training
    before = model.stage1[0].bn.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.stage1[0].bn.running_mean, before)
    assert not torch.equal(model.stage2[0].bn.running_mean, torch.zeros(96))
    stem_only = CSPNeXt(**TINY, frozen_stages=0).train()
    assert not stem_only.stem.training and stem_only.stage1.training


def test_norm_eval_keeps_batch_norms_in_eval_mode():
    model = CSPNeXt(**TINY, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.training and model.stage1.training


def test_init_weights_is_mmdets_kaiming_uniform():
    torch.manual_seed(0)
    model = CSPNeXt(**TINY)
    model.init_weights()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        fan_in = conv.weight[0].numel()
        # kaiming_uniform(a=sqrt(5), fan_in, leaky_relu): bound = sqrt(2 / 6) * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
        assert conv.weight.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
        assert conv.weight.std() > 0.25 / math.sqrt(fan_in)
        assert conv.bias is None or torch.equal(conv.bias, torch.zeros_like(conv.bias))
    assert any(conv.bias is not None for conv in convs)  # the attention's fc
    untouched = CSPNeXt(**TINY, init_cfg=None)
    before = {k: v.clone() for k, v in untouched.state_dict().items()}
    untouched.init_weights()
    assert all(torch.equal(before[k], v) for k, v in untouched.state_dict().items())
    pretrained = CSPNeXt(**TINY, init_cfg={"type": "Pretrained", "checkpoint": "x.pth"})
    with pytest.raises(NotImplementedError, match="checkpoint loader"):
        pretrained.init_weights()
    with pytest.raises(NotImplementedError, match="init_cfg"):
        CSPNeXt(**TINY, init_cfg={"type": "Normal", "std": 0.01})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arch": "P7"}, "arch must be one of"),
        ({"out_indices": (2, 5)}, "out_indices"),
        ({"out_indices": ()}, "out_indices"),
        ({"frozen_stages": 5}, "frozen_stages"),
        ({"frozen_stages": -2}, "frozen_stages"),
        ({"widen_factor": 0.01}, "stem"),
        ({"deepen_factor": 0}, "deepen_factor"),
        ({"arch_ovewrite": [[8, 16, 1]]}, "arch_ovewrite"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CSPNeXt(**kwargs)


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        CSPNeXt(**TINY)(torch.randn(1, 4, 32, 32))


def test_fused_for_inference_matches_with_no_batch_norm_left():
    from visdet.models.fuse import fuse_for_inference
    from visdet.models.necks import CSPNeXtPAFPN

    torch.manual_seed(0)
    backbone = CSPNeXt(deepen_factor=0.167, widen_factor=0.125, use_depthwise=True).eval()
    neck = CSPNeXtPAFPN(in_channels=[32, 64, 128], out_channels=32, num_csp_blocks=1, use_depthwise=True).eval()
    with torch.no_grad():  # non-trivial statistics, so folding them changes the conv weights
        for norm in [m for m in (*backbone.modules(), *neck.modules()) if isinstance(m, nn.BatchNorm2d)]:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0, 0.1)
            norm.running_mean.normal_(0, 0.1)
            norm.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = neck(backbone(x))
        fused_backbone, fused_neck = fuse_for_inference(backbone), fuse_for_inference(neck)
        got = fused_neck(fused_backbone(x))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in (*fused_backbone.modules(), *fused_neck.modules()))
    for out, ref in zip(got, expected):
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
