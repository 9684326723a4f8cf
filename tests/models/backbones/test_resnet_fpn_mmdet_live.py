"""Live comparisons with mmdet (skipped without the reference): state_dict keys and shapes
of the full-size Faster R-CNN R50-FPN backbone and neck, and seed-for-seed equal init."""

from pathlib import Path

import pytest
import torch

from parity.reference import reference_missing
from visdet.models.backbones import ResNet, ResNetV1d
from visdet.models.necks import FPN

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def mmdet_models():
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    import mmdet
    from mmengine.config import Config

    config = Path(mmdet.__file__).parent / ".mim/configs/_base_/models/faster-rcnn_r50_fpn.py"
    return Config.fromfile(str(config)).model


def _without_type(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k != "type"}


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_faster_rcnn_r50_backbone_keys_and_shapes(mmdet_models):
    from mmdet.models.backbones import ResNet as MMResNet

    cfg = _without_type(mmdet_models.backbone)
    reference = MMResNet(**{**cfg, "init_cfg": None})
    ours = ResNet(**cfg)  # keeps the Pretrained init_cfg as a record
    assert _shapes(ours) == _shapes(reference)
    assert len(_shapes(ours)) == 318
    ours.train()
    reference.train()
    for (name, a), (_, b) in zip(ours.named_modules(), reference.named_modules()):
        assert a.training == b.training, name
    for (name, a), (_, b) in zip(ours.named_parameters(), reference.named_parameters()):
        assert a.requires_grad == b.requires_grad, name


def test_faster_rcnn_fpn_keys_and_shapes(mmdet_models):
    from mmdet.models.necks import FPN as MMFPN

    cfg = _without_type(mmdet_models.neck)
    assert _shapes(FPN(**cfg)) == _shapes(MMFPN(**cfg))


def _assert_same_state(ours: torch.nn.Module, reference: torch.nn.Module) -> None:
    theirs = reference.state_dict()
    mine = ours.state_dict()
    assert list(mine) == list(theirs)
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key


@pytest.mark.parametrize(
    ("arch", "kwargs"),
    [
        ("ResNet", {"depth": 18, "base_channels": 8}),
        ("ResNet", {"depth": 50, "base_channels": 4, "style": "caffe", "frozen_stages": 1}),
        (
            "ResNet",
            {"depth": 50, "base_channels": 4, "zero_init_residual": False, "norm_cfg": {"type": "GN", "num_groups": 2}},
        ),
        ("ResNetV1d", {"depth": 50, "base_channels": 4, "stem_channels": 8}),
    ],
)
def test_same_seed_gives_mmdet_init(mmdet_models, arch, kwargs):
    from mmdet.models.backbones import ResNet as MMResNet
    from mmdet.models.backbones import ResNetV1d as MMResNetV1d

    classes = {"ResNet": (ResNet, MMResNet), "ResNetV1d": (ResNetV1d, MMResNetV1d)}
    ours_cls, ref_cls = classes[arch]
    torch.manual_seed(7)
    reference = ref_cls(**kwargs)
    reference.init_weights()
    torch.manual_seed(7)
    ours = ours_cls(**kwargs)
    ours.init_weights()
    _assert_same_state(ours, reference)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_outs": 5},
        {"num_outs": 5, "start_level": 1, "add_extra_convs": "on_input", "norm_cfg": {"type": "BN"}},
        {"num_outs": 6, "add_extra_convs": "on_output", "init_cfg": None},
    ],
)
def test_same_seed_gives_mmdet_fpn_init(mmdet_models, kwargs):
    from mmdet.models.necks import FPN as MMFPN

    kwargs = {"in_channels": [8, 16, 32, 64], "out_channels": 16, **kwargs}
    torch.manual_seed(3)
    reference = MMFPN(**kwargs)
    reference.init_weights()
    torch.manual_seed(3)
    ours = FPN(**kwargs)
    ours.init_weights()
    _assert_same_state(ours, reference)


@pytest.mark.parametrize("frozen_stages", [-1, 0, 2])
@pytest.mark.parametrize("deep_stem", [False, True])
@pytest.mark.parametrize("norm_eval", [False, True])
def test_train_eval_flags_and_requires_grad_match_mmdet(mmdet_models, frozen_stages, deep_stem, norm_eval):
    from mmdet.models.backbones import ResNet as MMResNet

    kwargs = {
        "depth": 18,
        "base_channels": 2,
        "frozen_stages": frozen_stages,
        "deep_stem": deep_stem,
        "norm_eval": norm_eval,
    }
    reference, ours = MMResNet(**kwargs), ResNet(**kwargs)
    for mode in (True, False, True):
        reference.train(mode)
        ours.train(mode)
        flags = [(n, m.training) for n, m in ours.named_modules()]
        assert flags == [(n, m.training) for n, m in reference.named_modules()]
    grads = [(n, p.requires_grad) for n, p in ours.named_parameters()]
    assert grads == [(n, p.requires_grad) for n, p in reference.named_parameters()]
