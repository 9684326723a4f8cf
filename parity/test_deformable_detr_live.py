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

Compared with the default tolerances; the printed worst errors show they are bit-equal here
(same process, same kernels). Runs only where the reference is installed (marker ``live``).
"""

from __future__ import annotations

import os

import pytest
import torch

from parity.compare import compare_outputs
from parity.reference import reference_missing
from parity.test_faster_rcnn_r50_live import build_pair, mmdet_samples, predict_both

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


@pytest.mark.live
@pytest.mark.parametrize("name", list(CONFIGS))
def test_full_size_deformable_detr_predict_matches_mmdet(name, tmp_path, parity_record) -> None:
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

    case_key = f"models/detectors/{name}_full/live_predict"
    result = compare_outputs(case_key, got, ref_out, exact=("pred.*.labels",))
    bit_equal = all(torch.equal(got[k], ref_out[k]) for k in ref_out)
    worst = max(result.keys, key=lambda r: r.max_abs)
    print(f"\n{name}: predict bit-equal {bit_equal}; worst {worst.key} abs {worst.max_abs:.2g}")
    component, case = case_key.rsplit("/", 1)
    parity_record(component, case, "live", result=result, examples=1)
    assert result.ok, result.failure_text()
