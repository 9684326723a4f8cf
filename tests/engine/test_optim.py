import pytest
import torch
from torch import nn

from visdet.build import build_model
from visdet.engine.optim import build_optimizer, detector_layer_groups, layerwise_lr_mults
from visdet.testing.tiny_models import tiny_faster_rcnn_config


def tiny_faster_rcnn():
    cfg = tiny_faster_rcnn_config(3)
    return build_model(cfg)


def lr_of(optimizer):
    return {name: g["lr"] for g in optimizer.param_groups for name in g["names"]}


def wd_of(optimizer):
    return {name: g["weight_decay"] for g in optimizer.param_groups for name in g["names"]}


def test_no_decay_for_norms_and_biases():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    opt = build_optimizer(model, name="sgd", lr=0.1, weight_decay=1e-4, norm_decay_mult=0.0, bias_decay_mult=0.0)
    wd = wd_of(opt)
    assert wd == {"0.weight": 1e-4, "0.bias": 0.0, "1.weight": 0.0, "1.bias": 0.0, "2.weight": 1e-4, "2.bias": 0.0}
    # default keeps mmdet's behaviour: everything decays
    assert set(wd_of(build_optimizer(model, lr=0.1, weight_decay=1e-4)).values()) == {1e-4}


def test_custom_keys_longest_match_first():
    model = tiny_faster_rcnn()
    keys = {"backbone": {"lr_mult": 0.1}, "backbone.layer4": {"lr_mult": 0.5, "decay_mult": 0.0}}
    opt = build_optimizer(model, name="sgd", lr=0.02, weight_decay=1e-4, custom_keys=keys)
    lrs, wds = lr_of(opt), wd_of(opt)
    assert lrs["backbone.layer2.0.conv1.weight"] == pytest.approx(0.002)
    assert lrs["backbone.layer4.1.conv2.weight"] == pytest.approx(0.01)
    assert wds["backbone.layer4.1.conv2.weight"] == 0.0
    assert lrs["neck.fpn_convs.0.conv.weight"] == pytest.approx(0.02)
    # frozen stage 1 (stem + layer1) is left out
    assert not any(n.startswith(("backbone.conv1", "backbone.layer1.")) for n in lrs)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(lrs) == trainable


def _expected_layer(name):
    order = ["backbone.layer2", "backbone.layer3", "backbone.layer4", "neck", "head"]
    for i, prefix in enumerate(order[:-1]):
        if name.startswith(prefix + "."):
            return i
    assert name.startswith(("rpn_head.", "roi_head.")), name
    return 4


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_discriminative_lrs_per_group(name, cls):
    model = tiny_faster_rcnn()
    base, decay = 1e-3, 0.5
    opt = build_optimizer(model, name=name, lr=base, weight_decay=0.05, lr_mults=layerwise_lr_mults(model, decay=decay))
    assert isinstance(opt, cls)
    lrs = lr_of(opt)
    for param_name, lr in lrs.items():
        assert lr == pytest.approx(base * decay ** (4 - _expected_layer(param_name))), param_name
    assert sorted({round(g["lr"], 12) for g in opt.param_groups}) == pytest.approx(
        [base * decay**k for k in range(4, -1, -1)]
    )


def test_layer_groups_include_stem_when_not_frozen():
    model = tiny_faster_rcnn()
    for p in model.parameters():
        p.requires_grad_(True)
    groups = detector_layer_groups(model)
    assert groups[0] == ["backbone.conv1", "backbone.bn1"]
    assert groups[1:5] == [["backbone.layer1"], ["backbone.layer2"], ["backbone.layer3"], ["backbone.layer4"]]
    assert groups[5] == ["neck"] and groups[6] == ["rpn_head", "roi_head"]


def test_bad_optimizer_arguments():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_optimizer(model, name="lion")
    with pytest.raises(ValueError, match="layer-wise decay"):
        layerwise_lr_mults(tiny_faster_rcnn(), decay=1.5)
    with pytest.raises(ValueError, match="'backbone' child"):
        layerwise_lr_mults(model, decay=0.5)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(model)
