"""``check_parity``: mmdet and visdet on a user's own config, checkpoint and images.

Steps, each recorded in the :class:`ParityReport`:

1. the reference: a supported mmdet/mmcv/mmengine must import, else *could not run*;
2. coverage: every component of the config must be one visdet builds, else the report
   is the coverage table and *could not run*;
3. weights: the checkpoint is read once (weights-only) and loaded into both models;
   missing or unexpected keys are listed by module (keys visdet alone lacks: *differs*;
   keys neither model has: the checkpoint does not fit the config, *could not run*);
4. predictions: both libraries' ``inference_detector`` on every image, detections paired
   order-insensitively (:mod:`visdet.apis.parity_check.matching`) and measured;
5. losses (optional): every loss term on the first images of a COCO file, both models
   seeded alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from visdet.apis.parity_check import reference
from visdet.apis.parity_check.coverage import coverage
from visdet.apis.parity_check.matching import ImageComparison, compare_detections
from visdet.apis.parity_check.report import DIFFERS, NOT_RUN, ParityReport, Tolerances

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def image_files(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image files given directly or found (sorted) in the given folders.

    Raises:
        FileNotFoundError: A source does not exist, or no image is found.
    """
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            files += sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif source.is_file():
            files.append(source)
        else:
            raise FileNotFoundError(f"image or folder not found: {source}")
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, sources))}")
    return files


def _visdet_model(config: Mapping[str, Any], state: Mapping[str, Tensor], device: str) -> tuple[Any, list, list]:
    from visdet.apis.builder import build_detector

    model = build_detector(config)
    model.cfg = dict(config)
    result = model.load_state_dict(dict(state), strict=False)
    return model.to(device).eval(), list(result.missing_keys), list(result.unexpected_keys)


def _score_override(config: Mapping[str, Any], score_thr: float | None) -> dict[str, Any]:
    from visdet.config.merge import merge

    if score_thr is None:
        return dict(config)
    test_cfg = (config.get("model") or {}).get("test_cfg") or {}
    override = {"rcnn": {"score_thr": score_thr}} if "rcnn" in test_cfg else {"score_thr": score_thr}
    return merge(config, {"model": {"test_cfg": override}})


def _visdet_predict(model: Any, image: Path) -> dict[str, Tensor]:
    from visdet.apis.inference import inference_detector

    result = inference_detector(model, str(image))
    out = {k: getattr(result, k).detach().cpu() for k in ("bboxes", "scores", "labels")}
    if "masks" in result:
        out["masks"] = torch.as_tensor(np.asarray(result.masks))
    return out


def _near_cut(score: float, cut: float | None, tol: float) -> bool:
    return cut is not None and abs(score - cut) <= tol


def _mask_allowance(report: ParityReport, ref: Mapping[str, Tensor]) -> int:
    """Pixels a pair's masks may differ in: a fraction of the smallest reference mask (at least 1)."""
    if "masks" not in ref or not len(ref["masks"]):
        return 0
    smallest = int(ref["masks"].flatten(1).sum(1).min())
    return max(1, int(report.tolerances.mask_fraction * smallest))


def _judge_image(report: ParityReport, image: ImageComparison, ref: Mapping[str, Tensor], cut: float | None) -> None:
    tol = report.tolerances
    problems = []
    if image.worst_box_px > tol.box_px:
        problems.append(f"a box differs by {image.worst_box_px:.3g} px")
    if image.worst_score > tol.score:
        problems.append(f"a score differs by {image.worst_score:.3g}")
    if image.label_disagreements:
        problems.append(f"{image.label_disagreements} paired detections have other labels")
    if (image.worst_mask_pixels or 0) > _mask_allowance(report, ref):
        problems.append(f"a mask differs in {image.worst_mask_pixels} pixels")
    # a detection right at the score threshold may be kept by one library and not the other
    strays = [s for _, s in image.unmatched_reference + image.unmatched_visdet if not _near_cut(s, cut, tol.score)]
    if strays:
        problems.append(f"{len(strays)} detections have no counterpart (best score {max(strays):.3g})")
    if problems:
        report.fail(DIFFERS, f"{image.name}: " + "; ".join(problems))


def _visdet_losses(config: Mapping[str, Any], model: Any, ann_file: str, img_dir: str, count: int, seed: int) -> dict:
    from visdet.build import build_pipeline
    from visdet.data.collate import pseudo_collate
    from visdet.data.datasets import CocoDataset
    from visdet.engine.detection_step import detection_losses

    dataset_cfg = (config.get("train_dataloader") or {}).get("dataset") or {}
    steps = dataset_cfg.get("pipeline") or config.get("train_pipeline") or []
    dataset = CocoDataset(ann_file=ann_file, data_prefix={"img": img_dir}, pipeline=build_pipeline(steps),
                          metainfo=dataset_cfg.get("metainfo"), test_mode=False)  # fmt: skip
    items = []
    for i in range(min(count, len(dataset))):
        np.random.seed(seed + i)
        items.append(dataset[i])
    model.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        raw = detection_losses(model, pseudo_collate(items), next(model.parameters()).device)
    model.eval()
    return {name: float(reference._total(value)) for name, value in raw.items()}


def check_parity(
    config_path: str,
    checkpoint: str,
    images: Sequence[str | os.PathLike[str]],
    *,
    score_thr: float | None = None,
    device: str = "cpu",
    ann_file: str | None = None,
    loss_images: int = 2,
    seed: int = 0,
    tolerances: Tolerances | None = None,
) -> ParityReport:
    """Compare mmdet and visdet on a config, a checkpoint and images (see the module docstring)."""
    report = ParityReport(config=config_path, checkpoint=checkpoint, tolerances=tolerances or Tolerances())
    problem = reference.reference_problem()
    if problem:
        report.fail(NOT_RUN, problem)
        return report
    from importlib.metadata import version

    import mmcv
    import mmdet
    import mmengine

    from visdet.apis.builder import load_detector_config
    from visdet.checkpoint import read_state_dict

    report.versions = {"visdet": version("visdet"), "mmdet": mmdet.__version__,
                       "mmcv": mmcv.__version__, "mmengine": mmengine.__version__,
                       "torch": torch.__version__}  # fmt: skip
    try:
        files = image_files(images)
        config = _score_override(load_detector_config(config_path), score_thr)
        report.coverage = coverage(config["model"])
    except (OSError, ValueError) as err:
        report.fail(NOT_RUN, f"cannot read the inputs: {err}")
        return report
    if not all(row.supported for row in report.coverage):
        report.fail(NOT_RUN, "the config has components visdet does not build yet (see the table)")
        return report
    try:
        state = read_state_dict(checkpoint)
    except (OSError, ValueError) as err:
        report.fail(NOT_RUN, f"cannot read the checkpoint: {err}")
        return report
    cfg = reference.read_config(config_path, score_thr)
    ref_model, ref_missing, ref_unexpected = reference.build_model(cfg, state, device)
    model, missing, unexpected = _visdet_model(config, state, device)
    report.weights = {"mmdet": {"missing": ref_missing, "unexpected": ref_unexpected},
                      "visdet": {"missing": missing, "unexpected": unexpected}}  # fmt: skip
    if ref_missing or ref_unexpected:
        report.fail(NOT_RUN, "the checkpoint does not fit the config even in mmdet (see Weights)")
        return report
    if missing or unexpected:
        report.fail(DIFFERS, "the checkpoint loads strictly into mmdet but not into visdet (see Weights)")
    test_cfg = cfg.model.get("test_cfg") or {}
    cut = (test_cfg.get("rcnn") or test_cfg).get("score_thr")
    for path in files:
        ref = reference.predict(ref_model, str(path))
        got = _visdet_predict(model, path)
        image = compare_detections(path.name, ref, got)
        _judge_image(report, image, ref, cut)
        report.images.append(image)
    report.require_detections(score_thr)
    if ann_file is not None:
        img_dir = str(files[0].parent)
        ref_losses = reference.losses(cfg, ref_model, ann_file, img_dir, loss_images, seed)
        got_losses = _visdet_losses(config, model, ann_file, img_dir, loss_images, seed)
        for name, value in ref_losses.items():
            mine = got_losses.get(name, float("nan"))
            report.losses[name] = (value, mine)
            if not abs(value - mine) <= report.tolerances.loss_rel * max(abs(value), 1e-12):
                report.fail(DIFFERS, f"loss {name}: mmdet {value:.6g}, visdet {mine:.6g}")
    return report
