"""The validation loop: predict every batch and evaluate with a metric (e.g. ``CocoMetric``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from visdet.engine.detection_step import detection_predictions


class ValLoop:
    """Evaluate a model on a loader.

    Args:
        loader: Validation loader (``shuffle=False``).
        metric: Object with ``process(data_batch, predictions)`` and ``evaluate(size)``
            (``CocoMetric``); its ``dataset_meta`` is filled from the dataset when empty.
        predict_fn: ``(model, batch, device) -> predictions`` for ``metric.process``.
    """

    def __init__(
        self,
        *,
        loader: DataLoader,
        metric: Any,
        predict_fn: Callable[[nn.Module, Any, torch.device], Any] = detection_predictions,
    ) -> None:
        self.loader = loader
        self.metric = metric
        self.predict_fn = predict_fn

    def run(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Metrics of ``model`` (restores its train/eval mode afterwards)."""
        if getattr(self.metric, "dataset_meta", None) is None and hasattr(self.loader.dataset, "metainfo"):
            self.metric.dataset_meta = self.loader.dataset.metainfo
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for batch in self.loader:
                    self.metric.process(batch, self.predict_fn(model, batch, device))
            return dict(self.metric.evaluate(size=len(self.loader.dataset)))
        finally:
            model.train(was_training)
