"""``to_onnx``: a detector, with its post-processing, as an ONNX file checked by onnxruntime.

The graph (:class:`visdet.export.two_stage.TwoStageGraph`) takes a preprocessed batch and
returns final detections; NMS is ONNX ``NonMaxSuppression`` and RoIAlign ONNX
``RoiAlign`` (opset 16, ``half_pixel``), see :mod:`visdet.export.onnx_ops` for why their
semantics are mmcv's. The image size is dynamic (any ``H, W``; the preprocessor pads to a
multiple of 32) and so is the batch size. Export uses torch's TorchScript-based exporter
(``dynamo=False``), which keeps the two custom operators as single nodes.

Graph inputs: ``inputs [B, 3, H, W]`` float32, ``img_shape [B, 2]`` float32 ``(h, w)``,
``scale_factor [B, 2]`` float64 ``(w_scale, h_scale)``. Outputs: ``boxes [D, 4]``,
``scores [D]``, ``labels [D]`` int64, ``batch_index [D]`` int64.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from visdet.export.support import check_exportable
from visdet.export.two_stage import TwoStageGraph

INPUT_NAMES = ("inputs", "img_shape", "scale_factor")
OUTPUT_NAMES = ("boxes", "scores", "labels", "batch_index")
MIN_OPSET = 16  # RoiAlign's coordinate_transformation_mode (half_pixel) came with opset 16
DEFAULT_OPSET = 17


def example_inputs(
    batch: int, height: int, width: int, *, seed: int = 0, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Graph inputs of one padded batch of random images filling the whole input."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, height, width, generator=generator).to(device)
    img_shape = torch.tensor([[float(height), float(width)]] * batch, device=device)
    scale_factor = torch.ones(batch, 2, dtype=torch.float64, device=device)
    return inputs, img_shape, scale_factor


def graph_inputs(
    inputs: torch.Tensor, metas: Sequence[Mapping[str, Any]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The graph's ``(inputs, img_shape, scale_factor)`` from a batch and its mmdet metas."""
    img_shape = torch.tensor([[float(m["img_shape"][0]), float(m["img_shape"][1])] for m in metas])
    scale = torch.tensor(
        [[float(s) for s in m.get("scale_factor", (1.0, 1.0))][:2] for m in metas], dtype=torch.float64
    )
    return inputs, img_shape.to(inputs.device), scale.to(inputs.device)


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 800, 1216),
    dynamic: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``model`` (eval mode) with its post-processing to the ONNX file ``path``.

    Args:
        model: A Faster R-CNN (others are refused, naming what blocks them).
        path: The ``.onnx`` file to write.
        input_shape: ``(B, 3, H, W)`` of the example batch traced; with ``dynamic`` the
            file takes any batch size and image size.
        dynamic: Batch size and image size as dynamic axes (default); ``False`` fixes
            them to ``input_shape``.
        opset: ONNX opset, at least 16.

    Returns:
        The path written.

    Raises:
        ExportError: The detector (or a component) cannot be exported; names it.
        ValueError: Bad ``input_shape`` or ``opset``.
    """
    check_exportable(model)
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET} (RoiAlign's half_pixel mode), got {opset}")
    if len(input_shape) != 4 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (B, C, H, W) with positive sizes, got {tuple(input_shape)}")
    batch, _, height, width = (int(v) for v in input_shape)
    device = next(model.parameters()).device
    graph = TwoStageGraph(model).eval()
    example = example_inputs(batch, height, width, device=device)
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {
            "inputs": {0: "batch", 2: "height", 3: "width"},
            "img_shape": {0: "batch"},
            "scale_factor": {0: "batch"},
            **{name: {0: "detections"} for name in OUTPUT_NAMES},
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            graph,
            example,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            autograd_inlining=False,  # keep NonMaxSuppression and RoiAlign as single nodes
        )
    return path
