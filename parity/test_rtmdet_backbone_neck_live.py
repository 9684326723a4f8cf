"""Live parity of RTMDet-tiny's, RTMDet-s's and RTMDet-l's full-size CSPNeXt backbone and CSPNeXtPAFPN neck.

For each of mmdet's ``configs/rtmdet/rtmdet_{tiny,s,l}_8xb32-300e_coco.py`` (read by mmengine),
mmdet builds the backbone and the neck from the config (SyncBN, SiLU), with seeded random
weights (``init_weights`` with the modules' default Kaiming ``init_cfg``) and non-trivial
norm statistics; their ``state_dict``s are loaded strictly into visdet's modules built from
the same config fields (the mmdet config converted by visdet, as ``build_detector`` would).
Compared:

* initialisation: the same seed gives the same weights (construction and ``init_weights``
  draw in mmdet's order), exactly;
* eval mode in float32, as users run it: the feature maps of a batch of two 256x256
  images and of one 160x224 image;
* train mode in float64 (:mod:`parity.precision`): the features, every parameter gradient
  and the updated running statistics of SyncBN on one process (batch norm), for a batch
  of two 128x160 images.

Runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.cases.backbones_necks import _randomise_state
from parity.compare import compare_outputs
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing

# rtmdet_l: the widest neck (3 CSP blocks) and a backbone without init_cfg in mmdet's config
CONFIGS = ("rtmdet_tiny_8xb32-300e_coco.py", "rtmdet_s_8xb32-300e_coco.py", "rtmdet_l_8xb32-300e_coco.py")


def _mmdet_model_config(name: str):
    import mmdet
    from mmengine.config import Config

    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "rtmdet", name))
    return cfg.model


def _build_reference(model_cfg):
    from mmdet.registry import MODELS

    backbone_cfg = model_cfg.backbone.copy()
    backbone_cfg.pop("init_cfg", None)  # the class default (Kaiming), not the ImageNet checkpoint
    backbone = MODELS.build(backbone_cfg)
    neck = MODELS.build(model_cfg.neck)
    backbone.init_weights()
    neck.init_weights()
    return backbone, neck


def _build_visdet(model_cfg):
    from visdet.build import build_component

    backbone = build_component("backbone", model_cfg.backbone.to_dict())
    neck = build_component("neck", model_cfg.neck.to_dict())
    return backbone, neck


def _features(backbone, neck, images: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
    feats = backbone(images)
    outs = neck(feats)
    record = {f"{prefix}.backbone.{i}": f for i, f in enumerate(feats)}
    record.update({f"{prefix}.neck.{i}": o for i, o in enumerate(outs)})
    return record


def _train_step(backbone, neck, images: torch.Tensor) -> dict[str, torch.Tensor]:
    backbone.train()
    neck.train()
    record = _features(backbone, neck, images, "train")
    total = torch.zeros((), dtype=images.dtype)
    for i, key in enumerate(sorted(record)):
        value = record[key]
        gen = torch.Generator().manual_seed(100 + i)
        total = total + (value * torch.randn(value.shape, generator=gen, dtype=torch.float64)).sum()
    total.backward()
    out = {k: v.detach().clone() for k, v in record.items()}
    for part, module in (("backbone", backbone), ("neck", neck)):
        for name, param in module.named_parameters():
            out[f"grad.{part}.{name}"] = param.grad.detach().clone()
        for name, buf in module.named_buffers():
            out[f"after.{part}.{name}"] = buf.detach().clone()
    return out


@pytest.mark.live
@pytest.mark.parametrize("config_name", CONFIGS)
def test_rtmdet_backbone_and_neck_match_mmdet(config_name, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.utils import register_all_modules

    register_all_modules()
    model_cfg = _mmdet_model_config(config_name)
    torch.manual_seed(0)
    ref_backbone, ref_neck = _build_reference(model_cfg)
    torch.manual_seed(0)
    backbone, neck = _build_visdet(model_cfg)
    backbone.init_weights()
    neck.init_weights()
    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    for part, ref_module, module in (("backbone", ref_backbone, backbone), ("neck", ref_neck, neck)):
        ref_state, state = ref_module.state_dict(), module.state_dict()
        assert list(state) == list(ref_state), f"{part}: state_dict keys (and their order) differ"
        ref_out.update({f"init.{part}.{k}": v.clone() for k, v in ref_state.items()})
        got.update({f"init.{part}.{k}": v.clone() for k, v in state.items()})

    for seed, module in ((1, ref_backbone), (2, ref_neck)):
        _randomise_state(module, seed)
    backbone.load_state_dict(ref_backbone.state_dict(), strict=True)
    neck.load_state_dict(ref_neck.state_dict(), strict=True)

    g = torch.Generator().manual_seed(2026)
    batches = {"eval_a": torch.randn(2, 3, 256, 256, generator=g), "eval_b": torch.randn(1, 3, 160, 224, generator=g)}
    for modules in ((ref_backbone, ref_neck), (backbone, neck)):
        for module in modules:
            module.eval()
    with torch.no_grad():
        for prefix, images in batches.items():
            ref_out.update(_features(ref_backbone, ref_neck, images.clone(), prefix))
            got.update(_features(backbone, neck, images.clone(), prefix))

    images = torch.randn(2, 3, 128, 160, generator=g, dtype=torch.float64)
    with reference_precision("float64"):
        ref_out.update(_train_step(ref_backbone.double(), ref_neck.double(), images.clone()))
    with visdet_precision("float64"):
        got.update(_train_step(backbone.double(), neck.double(), images.clone()))

    case_key = f"models/backbones/cspnext_pafpn_{config_name.split('_8xb')[0]}_full/live"
    result = compare_outputs(case_key, got, ref_out, exact=("init.*",))
    component, name = case_key.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
