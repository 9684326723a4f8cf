"""How the runner feeds a detector: batches in, losses or predictions out.

A loader batch is ``{"inputs": [Tensor[C, H, W]], "data_samples": [DetDataSample]}``
(see ``PackDetInputs``). :func:`detection_losses` moves it to the device, runs the
model's ``data_preprocessor`` and ``loss``; :func:`detection_predictions` runs
``predict`` and returns the dicts ``CocoMetric.process`` takes. The runner accepts other
functions with the same signatures (e.g. for a toy model in tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn


def _preprocess(model: nn.Module, batch: Mapping[str, Any], device: torch.device) -> tuple[Tensor, list[dict]]:
    images = [image.to(device) for image in batch["inputs"]]
    metas = [dict(sample.metainfo) for sample in batch["data_samples"]]
    preprocessor = getattr(model, "data_preprocessor", None)
    if preprocessor is None:
        raise AttributeError(f"{type(model).__name__} has no data_preprocessor; the runner needs one to batch images")
    return preprocessor(images, metas)


def detection_losses(model: nn.Module, batch: Mapping[str, Any], device: torch.device) -> dict[str, Tensor]:
    """``model.loss`` on a loader batch (mmdet's loss names)."""
    inputs, metas = _preprocess(model, batch, device)
    gt = [sample.gt_instances.to(device) for sample in batch["data_samples"]]
    inputs, metas, gt = model.data_preprocessor.augment(inputs, metas, gt)  # batch_augments, in training
    gt = model.data_preprocessor.pad_gt_masks(gt, metas)
    return model.loss(inputs, metas, gt)


def detection_predictions(model: nn.Module, batch: Mapping[str, Any], device: torch.device) -> list[dict[str, Any]]:
    """``model.predict`` on a loader batch as ``CocoMetric.process`` inputs."""
    inputs, metas = _preprocess(model, batch, device)
    results = model.predict(inputs, metas, rescale=True)
    return [
        {"img_id": meta["img_id"], "ori_shape": meta["ori_shape"], "pred_instances": result.to("cpu")}
        for meta, result in zip(metas, results)
    ]


def parse_losses(losses: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
    """The total loss (sum of the terms whose name contains ``"loss"``) and every term.

    List-valued terms (per level) are summed first, as mmengine does. Other entries
    (``acc``) are kept for logging only.
    """
    terms: dict[str, Tensor] = {}
    for name, value in losses.items():
        if isinstance(value, Tensor):
            terms[name] = value.mean()
        elif isinstance(value, (list, tuple)):
            terms[name] = sum(v.mean() for v in value)
        else:
            raise TypeError(f"loss {name!r} must be a tensor or a list of tensors, got {type(value).__name__}")
    loss_terms = [v for k, v in terms.items() if "loss" in k]
    if not loss_terms:
        raise ValueError(f"the model returned no loss terms (names containing 'loss'); got {sorted(terms)}")
    total = sum(loss_terms)
    terms["loss"] = total
    return total, terms


class LossModule(nn.Module):
    """``forward(batch) -> losses``: what ``DistributedDataParallel`` wraps.

    DDP synchronises gradients only through ``forward``; detectors train through
    ``loss``, so this thin module routes ``forward`` to the loss function.
    """

    def __init__(self, *, model: nn.Module, loss_fn: Any, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        self.device = device

    def forward(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Losses of ``batch``."""
        return self.loss_fn(self.model, batch, self.device)
