# Ported from mmdet tests/test_models/test_backbones/test_swin.py (mmdet 3.3.0), rewritten
# for visdet: constructors are keyword-only, mmdet's AssertionError becomes ValueError,
# and the full-size forwards run without autograd (shapes are what is checked).
import pytest
import torch

from visdet.models.backbones import SwinBlock, SwinTransformer


def test_swin_block():
    block = SwinBlock(embed_dims=64, num_heads=4, feedforward_channels=256)
    assert block.ffn.embed_dims == 64
    assert block.attn.w_msa.num_heads == 4
    assert block.ffn.feedforward_channels == 256
    x = torch.randn(1, 56 * 56, 64)
    with torch.no_grad():
        assert block(x, (56, 56)).shape == (1, 56 * 56, 64)

    # gradient checkpointing: same output and gradients as the plain block
    block_cp = SwinBlock(embed_dims=64, num_heads=4, feedforward_channels=256, with_cp=True)
    assert block_cp.with_cp
    block_cp.load_state_dict(block.state_dict())
    x = torch.randn(1, 14 * 14, 64)
    outs, grads = [], []
    for module in (block, block_cp):
        leaf = x.clone().requires_grad_(True)
        out = module(leaf, (14, 14))
        out.sum().backward()
        outs.append(out.detach())
        grads.append(leaf.grad)
    assert outs[1].shape == (1, 14 * 14, 64)
    torch.testing.assert_close(outs[1], outs[0])
    torch.testing.assert_close(grads[1], grads[0])


def test_swin_transformer():
    with pytest.raises(TypeError):
        SwinTransformer(pretrained=123)  # pretrained must be a str or None

    with pytest.raises(ValueError):
        # non-overlapping patch embedding: the first stride must equal the patch size
        SwinTransformer(strides=(2, 2, 2, 2), patch_size=4)

    with pytest.raises(ValueError):
        SwinTransformer(pretrain_img_size=(224, 224, 224))

    # absolute position embedding
    temp = torch.randn((1, 3, 224, 224))
    model = SwinTransformer(pretrain_img_size=224, use_abs_pos_embed=True)
    model.init_weights()
    with torch.no_grad():
        model(temp)

    # no patch norm
    model = SwinTransformer(patch_norm=False)
    assert model.patch_embed.norm is None and model.stages[0].downsample.norm is None
    with torch.no_grad():
        model(temp)

    model = SwinTransformer()
    expected = {
        (512, 512): [(1, 96, 128, 128), (1, 192, 64, 64), (1, 384, 32, 32), (1, 768, 16, 16)],
        (511, 511): [(1, 96, 128, 128), (1, 192, 64, 64), (1, 384, 32, 32), (1, 768, 16, 16)],
        (112, 137): [(1, 96, 28, 35), (1, 192, 14, 18), (1, 384, 7, 9), (1, 768, 4, 5)],
    }
    for (h, w), shapes in expected.items():
        with torch.no_grad():
            outs = model(torch.randn((1, 3, h, w)))
        assert [tuple(o.shape) for o in outs] == shapes

    model = SwinTransformer(frozen_stages=4)
    model.train()
    for p in model.parameters():
        assert not p.requires_grad
