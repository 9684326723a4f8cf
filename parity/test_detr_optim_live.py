"""Live parity of the DETR family's optimizer on mmdet's own full-size detectors.

For mmdet's ``deformable-detr_r50_16xb2-50e_coco.py``, its ``-refine`` and ``-refine-twostage``
variants and ``dino-4scale_r50_8xb2-12e_coco.py`` (read by mmengine), mmdet builds the detector
(no pretrained download) and mmengine builds the ``optim_wrapper`` of the config; visdet builds
its optimizer from the same section read by visdet's converter, on a copy of the same module
(the parameter names are mmdet's, so this needs no visdet detector). Compared:

* the lr and weight decay of every parameter (frozen ones left out by both), exactly;
* two clipped AdamW steps on a loss that gives every parameter a seeded random gradient:
  mmengine's ``OptimWrapper.update_params`` against visdet's runner step (backward,
  :func:`visdet.engine.optim.clip_gradients`, step), every parameter afterwards and the
  gradient norms, exactly.

Runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.reference import reference_missing

CONFIGS = (
    "deformable_detr/deformable-detr_r50_16xb2-50e_coco.py",
    "deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py",
    "deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py",
    "dino/dino-4scale_r50_8xb2-12e_coco.py",
)


def _config_path(name: str) -> str:
    import mmdet

    return os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", name)


def _loss(model: torch.nn.Module, directions: dict[str, torch.Tensor]) -> torch.Tensor:
    """``sum(p * d)`` over the trainable parameters: each gets the gradient ``d``."""
    return torch.stack([(p * directions[n]).sum() for n, p in model.named_parameters() if p.requires_grad]).sum()


def _groups(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    where = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    rows = [where.get(id(p), (-1.0, -1.0)) for _, p in model.named_parameters()]
    return {"lr": torch.tensor([r[0] for r in rows], dtype=torch.float64),
            "weight_decay": torch.tensor([r[1] for r in rows], dtype=torch.float64)}  # fmt: skip


@pytest.mark.live
@pytest.mark.parametrize("config_name", CONFIGS)
def test_detr_optimizer_matches_mmengine_on_mmdets_detector(config_name, parity_record):
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper

    from visdet.engine.components import validate_config
    from visdet.engine.components.convert import convert_mmdet_config
    from visdet.engine.optim import clip_gradients

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(_config_path(config_name))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    reference_model = MODELS.build(cfg.model)
    ours_model = copy.deepcopy(reference_model)
    wrapper = build_optim_wrapper(reference_model, cfg.optim_wrapper)
    converted = convert_mmdet_config(_config_path(config_name))[0]
    settings = validate_config({"optim_wrapper": converted["optim_wrapper"]}).optim_wrapper
    optimizer = settings.build(model=ours_model)
    assert type(optimizer) is type(wrapper.optimizer) is torch.optim.AdamW

    gen = torch.Generator().manual_seed(1)
    steps = [{n: torch.randn(p.shape, generator=gen) for n, p in reference_model.named_parameters()} for _ in range(2)]
    hub = MessageHub.get_current_instance()
    ref_out, got_out = _groups(reference_model, wrapper.optimizer), _groups(ours_model, optimizer)
    ref_norms, got_norms = [], []
    for directions in steps:
        wrapper.update_params(_loss(reference_model, directions))
        ref_norms.append(hub.get_scalar("train/grad_norm").current())
        _loss(ours_model, directions).backward()
        got_norms.append(float(clip_gradients(optimizer, settings.clip_grad.max_norm, settings.clip_grad.norm_type)))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    ref_out["grad_norm"] = torch.tensor(ref_norms, dtype=torch.float64)
    got_out["grad_norm"] = torch.tensor(got_norms, dtype=torch.float64)
    ref_out.update({f"param.{n}": p.detach() for n, p in reference_model.named_parameters()})
    got_out.update({f"param.{n}": p.detach() for n, p in ours_model.named_parameters()})
    case = f"live/detr_optim/{os.path.basename(config_name)[:-3]}"
    result = compare_outputs(case, got_out, ref_out, exact=("lr", "weight_decay", "grad_norm", "param.*"))
    parity_record(*case.rsplit("/", 1), "live", result=result, examples=2)
    assert result.ok, result.failure_text()
    slow = {n for n, p in reference_model.named_parameters() if p.requires_grad and "backbone" in n}
    lrs = dict(zip([n for n, _ in reference_model.named_parameters()], got_out["lr"].tolist()))
    assert slow and all(lrs[n] == pytest.approx(cfg.optim_wrapper.optimizer.lr * 0.1) for n in slow)
    assert min(ref_norms) > settings.clip_grad.max_norm  # the clip acted at every step
