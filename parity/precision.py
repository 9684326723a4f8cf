"""The precision a parity case runs at, and why deep cases run in float64.

The problem. A whole ResNet, an FPN, a detector's loss or one training step sums
millions of float32 products. The order of those sums is the kernel's choice: torch's
CPU convolutions pick oneDNN or native code, AVX-512, AVX2 or SSE paths and split work
by thread, so the last bits of a float32 result depend on the machine. For outputs that
are badly conditioned (a gradient summed over thousands of positions, a BatchNorm bias
gradient that nearly cancels) those last bits grow to 1e-3..1 relative: a float32 golden
written on one CPU fails on another although visdet is right, and passes only where the
kernels are bit-identical, which proves nothing about visdet against mmdet.

The design. Such cases declare ``dtype="float64"``: inputs are drawn in float32 from
the case's seed and promoted, both the reference and visdet build their modules and run
with float64 as torch's default dtype, and the golden stores float64 tensors. The
rounding of any kernel is then about 1e-16 relative; even amplified by 1e8 it stays far
below the float64 tolerance in ``parity/tolerances.yaml`` (1e-8), while a real
difference (a changed constant, a swapped operator, a different algorithm) moves
results by far more. Outputs that are exact (indices, labels, counts) stay exact.
Shallow cases (single ops, losses, transforms, the data pipeline) keep float32: their
results are a handful of correctly rounded operations and do not move between CPUs,
which ``parity/test_portability.py`` checks under every CPU setting we can reach.

What float64 needs on the reference side (:func:`reference_precision`):

* mmcv's compiled ``nms`` has no float64 CPU kernel (``expected scalar type Float but
  found Double``). The reference runs it on the float32-rounded boxes and scores and
  applies the keep indices to the float64 tensors. Keep indices only change when an IoU
  sits within float32 rounding of the threshold, or scores tie after rounding; the
  cases' random inputs are far from both, and the exact comparison of the indices that
  follow would show it.
* mmdet's ``_do_paste_mask`` builds its pixel grid as ``float32 pixels - boxes``; with
  float64 boxes the grid is float64 and ``grid_sample`` refuses the float32 masks, so
  mmdet cannot paste masks in float64 at all. The reference pastes with the boxes
  rounded to float32, which is what visdet's ``paste_masks_chunk`` does in every precision
  (and mmdet's arithmetic for the float32 models it runs).
* Because the reference ranks and suppresses in float32, visdet's side does the same in a
  float64 case (:func:`visdet_precision`): its greedy NMS (``nms`` and ``batched_nms``'s
  split path) gets the float32-rounded boxes and scores and its keep indices apply to the
  float64 tensors. Without it, scores that tie after float32 rounding (thousands of RPN
  scores of a randomly initialised full-size model do) are ranked by their float64
  values in visdet and by mmcv's sort of equal float32 values in the reference: the
  proposals come out in another order, the random sampler then draws other negatives,
  and every stage's ``loss_cls`` moves (seen as ~1e-5 in Cascade R-CNN's live test).
* mmengine's ``ImgDataPreprocessor`` casts the batch with ``.float()``. Cases that go
  through a data preprocessor promote its output to float64 before the network (both
  sides, explicitly, with :func:`to_default_float`); normalising uint8 pixels is two
  correctly rounded operations per element, the same on every CPU.
* mmdet's ``DynamicSoftLabelAssigner`` (RTMDet) stores the matched IoUs in a float32
  tensor by an index-put, which fails for float64 IoUs. The reference's
  ``dynamic_k_matching`` returns them rounded to float32 (what the store would hold;
  visdet's assigner rounds them the same way), and RTMDet's float64 cases keep the gt
  boxes float32, as mmdet's data pipeline gives them (its box targets are float32 and
  the same index-put fails for float64 boxes).
* mmdet's ``FCOSHead`` casts its box regression with ``.float()`` (for fp16 training),
  which in a float64 run would put float32 rounding into the middle of the head. FCOS's
  float64 cases run both sides inside :func:`float_keeps_float64` (``.float()`` leaves
  float64 tensors alone); visdet keeps the cast, so both sides execute the same code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def promote(tensors: Mapping[str, torch.Tensor], dtype: str) -> dict[str, torch.Tensor]:
    """Float32 tensors of ``tensors`` converted to ``dtype``; every other tensor as it is."""
    target = DTYPES[dtype]
    return {k: v.to(target) if v.dtype == torch.float32 else v for k, v in tensors.items()}


def to_default_float(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in torch's current default float dtype (float64 inside a float64 case)."""
    return tensor.to(torch.get_default_dtype())


@contextlib.contextmanager
def precision(dtype: str) -> Iterator[None]:
    """Run the body with ``dtype`` as torch's default float dtype, restoring it after."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPES[dtype])
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class _Float32Nms:
    """Stands in for mmcv's ``_ext`` module inside ``mmcv.ops.nms``: float64 in, float32 kernel."""

    def __init__(self, ext: Any) -> None:
        self._ext = ext

    def nms(self, bboxes: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if bboxes.dtype == torch.float64:
            bboxes, scores = bboxes.to(torch.float32), scores.to(torch.float32)
        return self._ext.nms(bboxes, scores, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ext, name)


@contextlib.contextmanager
def reference_precision(dtype: str) -> Iterator[None]:
    """:func:`precision` plus, for float64, the reference adapters described above."""
    with precision(dtype):
        if dtype != "float64":
            yield
            return
        import importlib

        # `import mmcv.ops.nms as m` gives the function that mmcv.ops re-exports, not the module
        mmcv_nms = importlib.import_module("mmcv.ops.nms")
        original = mmcv_nms.ext_module
        mmcv_nms.ext_module = _Float32Nms(original)
        fcn = importlib.import_module("mmdet.models.roi_heads.mask_heads.fcn_mask_head")
        paste = fcn._do_paste_mask

        def paste_float32_boxes(masks: torch.Tensor, boxes: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            return paste(masks, boxes.to(torch.float32), *args, **kwargs)

        fcn._do_paste_mask = paste_float32_boxes
        dsla = importlib.import_module("mmdet.models.task_modules.assigners.dynamic_soft_label_assigner")
        matching = dsla.DynamicSoftLabelAssigner.dynamic_k_matching

        def matching_float32_ious(self: Any, *args: Any, **kwargs: Any) -> Any:
            ious, gt_inds = matching(self, *args, **kwargs)
            return ious.to(torch.float32), gt_inds

        dsla.DynamicSoftLabelAssigner.dynamic_k_matching = matching_float32_ious
        try:
            yield
        finally:
            mmcv_nms.ext_module = original
            fcn._do_paste_mask = paste
            dsla.DynamicSoftLabelAssigner.dynamic_k_matching = matching


@contextlib.contextmanager
def visdet_precision(dtype: str) -> Iterator[None]:
    """:func:`precision` plus, for float64, visdet's greedy NMS on float32 as the reference's."""
    with precision(dtype):
        if dtype != "float64":
            yield
            return
        import importlib

        nms_module = importlib.import_module("visdet.ops.nms")
        indices, split = nms_module.nms_indices, nms_module._split_nms

        def float32_indices(boxes: torch.Tensor, scores: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            return indices(boxes.to(torch.float32), scores.to(torch.float32), *args, **kwargs)

        def float32_split(boxes: torch.Tensor, scores: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            return split(boxes.to(torch.float32), scores.to(torch.float32), *args, **kwargs)

        nms_module.nms_indices, nms_module._split_nms = float32_indices, float32_split
        try:
            yield
        finally:
            nms_module.nms_indices, nms_module._split_nms = indices, split


@contextlib.contextmanager
def float_keeps_float64() -> Iterator[None]:
    """``Tensor.float()`` returns float64 tensors unchanged inside the body (see the module docstring).

    Other dtypes convert as usual (uint8 images, fp16); the original method is restored after.
    """
    original = torch.Tensor.float

    def float_unless_float64(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self if self.dtype == torch.float64 else original(self, *args, **kwargs)

    torch.Tensor.float = float_unless_float64  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.float = original  # type: ignore[method-assign]
