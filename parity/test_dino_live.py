"""Live parity of the full-size DINO-4scale R50 built from mmdet's own config file.

mmdet builds ``configs/dino/dino-4scale_r50_8xb2-12e_coco.py`` (backbone ``init_cfg=None``) under
a seed and runs its own ``init_weights``; the weights are saved the way mmengine's runner saves
them and loaded strictly into ``visdet.build_detector(cfg.model)``.

* ``predict`` (float32, as users run it) on two images of different sizes in one batch (the
  smaller one padded, so every level has a padding mask): the 300 detections per image (boxes,
  scores, labels), and the raw class logits and boxes of all 6 decoder layers.
* ``loss`` in float64 (:mod:`parity.precision`) on the same two images, the second without ground
  truth, torch's RNG seeded alike right before it (the denoising queries' label and box noise):
  all 39 terms (the last layer's and the ``d0.``-``d4.`` auxiliary matching terms, ``enc_`` and
  the ``dn_`` denoising terms of every layer) and every parameter's gradient.
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.precision import reference_precision, visdet_precision
from parity.reference import reference_missing
from parity.test_deformable_detr_live import _raw_outputs
from parity.test_faster_rcnn_r50_live import _grads, _save_like_mmengine_runner, mmdet_samples, predict_both

CASE_KEY = "models/detectors/dino_4scale_r50_full/live"
#: torch's seed right before ``loss`` on both sides: the denoising queries' draws.
DN_SEED = 2028


def _mmdet_config():
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "dino", "dino-4scale_r50_8xb2-12e_coco.py")
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return cfg


def _build_pair(cfg, path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """mmdet's DINO (seed 0, its ``init_weights``), saved as mmengine does, loaded strictly into visdet's.

    visdet builds from a copy of the config taken first: mmdet's DINO writes the generator's
    ``num_classes``, ``embed_dims`` and ``num_matching_queries`` into ``cfg.model.dn_cfg`` while it
    builds (and would refuse that config itself afterwards).
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import visdet

    model_dict = cfg.model.to_dict()
    register_all_modules()
    torch.manual_seed(0)
    ref_model = MODELS.build(cfg.model)
    ref_model.init_weights()
    _save_like_mmengine_runner(ref_model, path)
    model = visdet.build_detector(model_dict)
    assert set(model.state_dict()) == set(ref_model.state_dict())
    visdet.load_checkpoint(model, path)
    return ref_model, model


def _inputs():
    g = torch.Generator().manual_seed(2027)
    shapes = [(256, 320), (208, 288)]
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in shapes]
    metas = [{"img_shape": (256, 320), "ori_shape": (512, 640), "scale_factor": (0.5, 0.5)},
             {"img_shape": (208, 288), "ori_shape": (260, 360), "scale_factor": (0.8, 0.8)}]  # fmt: skip
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, 310.0, 250.0], [5.0, 5.0, 60.0, 90.0]]),
            torch.tensor([0, 17, 79])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]  # fmt: skip
    return images, metas, gts


def _loss_pair(ref_model, model, images, metas, samples, gts) -> tuple[dict, dict]:
    """Both models' losses and gradients in float64, training mode, the denoising draws seeded alike."""
    from visdet.structures import Instances

    ref_model.double().train()
    model.double().train()
    with reference_precision("float64"):
        for sample in samples:
            sample.gt_instances.bboxes = sample.gt_instances.bboxes.double()
        data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                           training=True)  # fmt: skip
        torch.manual_seed(DN_SEED)
        ref_losses = ref_model.loss(data["inputs"], data["data_samples"])
        sum(v for k, v in ref_losses.items() if "loss" in k).backward()
    with visdet_precision("float64"):
        batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
        gt_instances = [Instances(bboxes=b.clone().double(), labels=lab.clone()) for b, lab in gts]
        torch.manual_seed(DN_SEED)
        losses = model.loss(batch, batch_metas, gt_instances)
        sum(v for k, v in losses.items() if "loss" in k).backward()
    assert data["inputs"].dtype == batch.dtype == torch.float64
    assert set(losses) == set(ref_losses) and len(losses) == 3 * 6 + 3 + 3 * 6, sorted(losses)
    ref = {f"loss.{k}": v.detach().clone().reshape(-1) for k, v in ref_losses.items()}
    got = {f"loss.{k}": v.detach().clone().reshape(-1) for k, v in losses.items()}
    return {**ref, **_grads(ref_model)}, {**got, **_grads(model)}


@pytest.mark.live
def test_full_size_dino_matches_mmdet(tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)

    cfg = _mmdet_config()
    ref_model, model = _build_pair(cfg, tmp_path / "dino_random.pth")
    images, metas, gts = _inputs()
    samples = mmdet_samples(metas, gts)

    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    results = predict_both(ref_model, model, images, metas, samples, ref_out, got)
    counts = [len(res) for res in results]
    assert counts == [300, 300], counts
    ref_raw, raw = _raw_outputs(ref_model, model, images, metas, samples)
    assert len(raw) == 12
    ref_out.update(ref_raw)
    got.update(raw)

    ref_loss, got_loss = _loss_pair(ref_model, model, images, metas, samples, gts)
    ref_out.update(ref_loss)
    got.update(got_loss)

    result = compare_outputs(CASE_KEY, got, ref_out, exact=("pred.*.labels",))
    preds = [r for r in result.keys if r.key.startswith("pred.") and not r.key.endswith("labels")]
    worst = {f: max((r.max_abs for r in preds if r.key.endswith(f)), default=float("nan"))
             for f in ("bboxes", "scores")}  # fmt: skip
    forward = max((r.max_abs for r in result.keys if r.key.startswith("forward.")), default=float("nan"))
    loss_err = max((r.max_abs for r in result.keys if r.key.startswith("loss.")), default=float("nan"))
    grads = [r for r in result.keys if r.key.startswith("grad.")]
    worst_grad = max(grads, key=lambda r: r.max_abs)
    values = {k.removeprefix("loss."): f"{v.item():.4g}" for k, v in got_loss.items() if k.startswith("loss.")}
    print(f"\ndetections per image: {counts}; worst box error {worst['bboxes']:.2g} px, worst score error "
          f"{worst['scores']:.2g}; worst raw output error {forward:.2g}; {len(values)} loss terms {values}, worst "
          f"error {loss_err:.2g}; worst gradient {worst_grad.key} abs {worst_grad.max_abs:.2g} ({len(grads)} "
          "parameters)")
    component, name = CASE_KEY.rsplit("/", 1)
    parity_record(component, name, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
