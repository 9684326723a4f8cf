"""Run an exported file with onnxruntime and compare it with the model's eager ``predict``.

Images are random (seeded), normalised-scale values at ``(height, width)``, padded to a
multiple of 32 as ``DetDataPreprocessor`` pads, with a non-trivial ``scale_factor``.
Detections are compared in their order (best first per image): same count, then the
largest box difference in pixels and score difference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from visdet.export.onnx_export import INPUT_NAMES, graph_inputs

BOX_TOL_PX = 1e-3
SCORE_TOL = 1e-4


@dataclass
class Comparison:
    """Eager versus onnxruntime on one batch."""

    shape: tuple[int, int]
    eager_count: int
    onnx_count: int
    max_box_px: float
    max_score: float
    labels_equal: bool

    @property
    def same(self) -> bool:
        """Same count and labels, boxes within ``BOX_TOL_PX``, scores within ``SCORE_TOL``."""
        return (
            self.eager_count == self.onnx_count
            and self.labels_equal
            and self.max_box_px <= BOX_TOL_PX
            and self.max_score <= SCORE_TOL
        )

    def line(self) -> str:
        """One line for the command line."""
        verdict = "same" if self.same else "DIFFERENT"
        return (
            f"{self.shape[0]}x{self.shape[1]}: eager {self.eager_count} / onnxruntime {self.onnx_count} detections, "
            f"max box diff {self.max_box_px:.2e} px, max score diff {self.max_score:.2e}, "
            f"labels {'equal' if self.labels_equal else 'differ'}: {verdict}"
        )


def random_batch(
    height: int, width: int, *, seed: int = 0, scale_factor: tuple[float, float] = (1.25, 1.2), divisor: int = 32
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """A padded ``[1, 3, H', W']`` batch of one random image and its meta."""
    generator = torch.Generator().manual_seed(seed)
    padded_h, padded_w = -(-height // divisor) * divisor, -(-width // divisor) * divisor
    inputs = torch.zeros(1, 3, padded_h, padded_w)
    inputs[:, :, :height, :width] = torch.randn(1, 3, height, width, generator=generator)
    meta = {
        "img_shape": (height, width),
        "ori_shape": (round(height / scale_factor[1]), round(width / scale_factor[0])),
        "scale_factor": scale_factor,
        "pad_shape": (padded_h, padded_w),
        "batch_input_shape": (padded_h, padded_w),
    }
    return inputs, [meta]


def run_onnx(path: str | os.PathLike[str], inputs: torch.Tensor, metas: list[dict[str, Any]]) -> list[torch.Tensor]:
    """The file's outputs (``boxes``, ``scores``, ``labels``, ``batch_index``) from onnxruntime on CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    feeds = {name: value.cpu().numpy() for name, value in zip(INPUT_NAMES, graph_inputs(inputs, metas))}
    return [torch.from_numpy(out) for out in session.run(None, feeds)]


def _max_diff(onnx: torch.Tensor, eager: torch.Tensor) -> float:
    """Largest absolute difference; infinite when the counts differ, 0 when both are empty."""
    if onnx.shape != eager.shape:
        return float("inf")
    return float((onnx - eager).abs().max()) if onnx.numel() else 0.0


@torch.no_grad()
def compare_with_eager(
    model: nn.Module, path: str | os.PathLike[str], height: int, width: int, seed: int = 0
) -> Comparison:
    """Compare the file under onnxruntime with ``model.predict`` on one random image."""
    inputs, metas = random_batch(height, width, seed=seed)
    eager = model.predict(inputs, metas, rescale=True)[0]
    boxes, scores, labels, _ = run_onnx(path, inputs, metas)
    same_count = len(boxes) == len(eager.bboxes)
    return Comparison(
        shape=(height, width),
        eager_count=len(eager.bboxes),
        onnx_count=len(boxes),
        max_box_px=_max_diff(boxes, eager.bboxes),
        max_score=_max_diff(scores, eager.scores),
        labels_equal=same_count and torch.equal(labels, eager.labels),
    )
