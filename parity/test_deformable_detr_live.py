"""Live parity of the full-size Deformable DETR detectors built from mmdet's own config files.

``configs/deformable_detr/deformable-detr_r50_16xb2-50e_coco.py`` (one stage, shared prediction
layers) and ``deformable-detr-refine-twostage_r50_16xb2-50e_coco.py`` (box refinement, queries from
the encoder's top proposals): mmdet builds each (backbone ``init_cfg=None``) under a seed and runs
its own ``init_weights`` (Xavier transformer, MSDA grids, N(0, 1) level embeddings, the head's
prior bias and zero regressors), saves the weights as mmengine's runner does, and visdet loads
them strictly into ``visdet.build_detector(cfg.model)``.

* ``predict`` (float32, as users run it) on two images of different sizes and scales in one
  batch (the smaller one padded, so every level has a padding mask): the raw outputs of all six
  decoder layers (``forward.*``) and the top-100 boxes, scores and labels after rescale.
* ``loss`` (float32, train mode: dropout 0.1 drawn under one seed on both sides) on the same two
  images, the second without ground truth: every term (the last layer's, ``d0.``-``d4.``, and
  ``enc_`` for two-stage) and the gradient of their sum for every trainable parameter.

Compared with the default tolerances; the test prints whether everything is bit-equal (it is
here: predictions, every loss term and every gradient, same process, same kernels). Runs only
where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import _grads, build_pair, mmdet_samples, predict_both

CONFIGS = {
    "deformable_detr_r50": "deformable-detr_r50_16xb2-50e_coco.py",
    "deformable_detr_refine_twostage_r50": "deformable-detr-refine-twostage_r50_16xb2-50e_coco.py",
}


def _mmdet_config(name: str):
    import mmdet
    from mmengine.config import Config

    path = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "deformable_detr", CONFIGS[name])
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return cfg


def _inputs():
    g = torch.Generator().manual_seed(2027)
    shapes = [(256, 320), (200, 288)]
    images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in shapes]
    metas = [{"img_shape": (256, 320), "ori_shape": (512, 640), "scale_factor": (0.5, 0.5)},
             {"img_shape": (200, 288), "ori_shape": (250, 360), "scale_factor": (0.8, 0.8)}]  # fmt: skip
    gts = [(torch.tensor([[30.0, 40.0, 200.0, 210.0], [150.0, 20.0, 310.0, 250.0], [5.0, 5.0, 60.0, 90.0]]),
            torch.tensor([0, 17, 79])),
           (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]  # fmt: skip
    return images, metas, gts


def _raw_outputs(ref_model, model, images, metas, samples) -> tuple[dict, dict]:
    """Both models' per-layer class logits and boxes (mmdet's ``_forward``, visdet's ``forward``)."""
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples})
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
    with torch.no_grad():
        ref_raw = [t for per_layer in ref_model._forward(data["inputs"], data["data_samples"]) for t in per_layer]
        raw = model(batch, batch_metas)
    return ({f"forward.{i}": t.clone() for i, t in enumerate(ref_raw)},
            {f"forward.{i}": t.clone() for i, t in enumerate(raw)})  # fmt: skip


def _losses(ref_model, model, images, metas, samples, gts) -> tuple[dict, dict]:
    """Both models' float32 training losses (dropout drawn under the same seed), gradients left on the parameters."""
    from visdet.structures import Instances

    ref_model.train()
    model.train()
    data = ref_model.data_preprocessor({"inputs": [im.clone() for im in images], "data_samples": samples},
                                       training=True)  # fmt: skip
    torch.manual_seed(7)
    ref_losses = ref_model.loss(data["inputs"], data["data_samples"])
    sum(v.sum() for v in ref_losses.values()).backward()
    batch, batch_metas = model.data_preprocessor([im.clone() for im in images], metas)
    gt_instances = [Instances(bboxes=b.clone(), labels=lab.clone()) for b, lab in gts]
    torch.manual_seed(7)
    losses = model.loss(batch, batch_metas, gt_instances)
    sum(v.sum() for v in losses.values()).backward()
    return ({k: v.detach().clone().reshape(()) for k, v in ref_losses.items()},
            {k: v.detach().clone().reshape(()) for k, v in losses.items()})  # fmt: skip


@pytest.mark.live
@pytest.mark.parametrize("name", list(CONFIGS))
def test_full_size_deformable_detr_matches_mmdet(name, tmp_path, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    cfg = _mmdet_config(name)
    ref_model, model = build_pair(cfg, tmp_path / f"{name}_random.pth", init_weights=True)
    images, metas, gts = _inputs()
    samples = mmdet_samples(metas, gts)
    ref_out: dict[str, torch.Tensor] = {}
    got: dict[str, torch.Tensor] = {}
    results = predict_both(ref_model, model, images, metas, samples, ref_out, got)
    assert [len(res) for res in results] == [100, 100]
    ref_raw, raw = _raw_outputs(ref_model, model, images, metas, samples)
    assert len(raw) == 12
    ref_out.update(ref_raw)
    got.update(raw)
    ref_losses, losses = _losses(ref_model, model, images, metas, samples, gts)
    names = {
        f"{prefix}loss_{term}" for prefix in ["", *(f"d{i}." for i in range(5))] for term in ("cls", "bbox", "iou")
    }
    if ref_model.as_two_stage:
        names |= {"enc_loss_cls", "enc_loss_bbox", "enc_loss_iou"}
    assert set(ref_losses) == set(losses) == names
    ref_out.update({f"loss.{k}": v for k, v in ref_losses.items()})
    got.update({f"loss.{k}": v for k, v in losses.items()})
    ref_out.update(_grads(ref_model))
    got.update(_grads(model))

    case_key = f"models/detectors/{name}_full/live"
    result = compare_outputs(case_key, got, ref_out, exact=("pred.*.labels",))
    bit_equal = all(torch.equal(got[k], ref_out[k]) for k in ref_out)
    worst = max(result.keys, key=lambda r: r.max_abs)
    grads = [r for r in result.keys if r.key.startswith("grad.")]
    values = {k.removeprefix("loss."): f"{v.item():.5g}" for k, v in got.items() if k.startswith("loss.")}
    print(
        f"\n{name}: predict, losses and {len(grads)} gradients bit-equal: {bit_equal}; worst {worst.key} abs "
        f"{worst.max_abs:.2g}; loss values {values}"
    )
    component, case = case_key.rsplit("/", 1)
    parity_record(component, case, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
