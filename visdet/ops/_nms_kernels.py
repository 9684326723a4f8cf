"""Float kernels of mmcv's NMS, shared by the greedy, sparse and soft variants.

Each reproduces mmcv's CPU kernel operation by operation (``max``/``min`` of the
corners, ``+ offset``, clamp at 0, ``inter / (area_i + area_j - inter)``) so that every
IoU is bit-identical to mmcv's in the same dtype.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor


def box_areas(boxes: Tensor, offset: int) -> Tensor:
    """``(x2 - x1 + offset) * (y2 - y1 + offset)`` as ``Tensor[N]``."""
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    if offset:
        widths = widths + offset
        heights = heights + offset
    return widths * heights


def iou_matrix(rows: Tensor, rows_area: Tensor, cols: Tensor, cols_area: Tensor, offset: int) -> Tensor:
    """IoU ``Tensor[R, C]`` between ranked ``rows`` and ``cols`` with mmcv's float ops."""
    xx1 = torch.maximum(rows[:, None, 0], cols[None, :, 0])
    yy1 = torch.maximum(rows[:, None, 1], cols[None, :, 1])
    xx2 = torch.minimum(rows[:, None, 2], cols[None, :, 2])
    yy2 = torch.minimum(rows[:, None, 3], cols[None, :, 3])
    w = xx2 - xx1
    h = yy2 - yy1
    if offset:
        w = w + offset
        h = h + offset
    inter = w.clamp_(min=0) * h.clamp_(min=0)
    return inter / (rows_area[:, None] + cols_area[None, :] - inter)


def resolve_block(over: Tensor, alive: Tensor) -> Tensor:
    """Greedy keep mask of one block of ranked boxes.

    ``over[i, j]`` (only ``i < j``) means box i, if kept, suppresses box j; ``alive`` marks
    the boxes not suppressed by earlier blocks. Iterates
    ``keep[j] = alive[j] and not any(keep[i] and over[i, j])`` to its fixed point.

    The ``any`` is a vector-matrix product of 0/1 floats (exact: it counts at most
    ``over.shape[0]`` ones), one small op per step instead of an ``&`` and an ``any``
    over the whole block.
    """
    over = over & alive[:, None]
    weights = over.to(torch.float32)
    keep = alive & ~over.any(0)
    for _ in range(over.shape[0]):
        new_keep = alive & ~(keep.to(torch.float32) @ weights).bool()
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


# Elements of one IoU block of the numpy greedy pass (rows x later columns): bounds its
# temporaries (a few arrays of this many elements, 64 KiB each in float32).
NUMPY_BLOCK_ELEMENTS = 1 << 14


_TORCH_KERNELS_ONLY = False


@contextlib.contextmanager
def torch_kernels_only() -> Iterator[None]:
    """Run the torch passes (what other devices and dtypes run) on CPU float tensors too.

    For the parity suite, which checks both versions of each NMS pass against mmcv's
    goldens on the CPU (``parity/test_ops_torch_kernels.py``). Not thread-safe.
    """
    global _TORCH_KERNELS_ONLY
    previous, _TORCH_KERNELS_ONLY = _TORCH_KERNELS_ONLY, True
    try:
        yield
    finally:
        _TORCH_KERNELS_ONLY = previous


def numpy_ready(*tensors: Tensor) -> bool:
    """Whether the numpy kernels apply: CPU float32/float64 tensors (numpy has the same IEEE ops)."""
    if _TORCH_KERNELS_ONLY:
        return False
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)


def numpy_columns(boxes: Tensor, offset: int) -> tuple[np.ndarray, ...]:
    """``x1, y1, x2, y2, area`` as contiguous numpy arrays, area by :func:`box_areas`' float ops."""
    array = boxes.detach().numpy()
    x1, y1, x2, y2 = (np.ascontiguousarray(array[:, k]) for k in range(4))
    widths, heights = x2 - x1, y2 - y1
    if offset:
        one = array.dtype.type(offset)
        widths += one
        heights += one
    return x1, y1, x2, y2, widths * heights


def numpy_iou_block(columns: tuple[np.ndarray, ...], rows: np.ndarray, start: int, offset: int) -> np.ndarray:
    """IoU ``[len(rows), N - start]`` of boxes ``rows`` against boxes ``start:``, mmcv's float ops.

    The same operations in the same order as :func:`iou_matrix`, on numpy arrays of the
    boxes' dtype (elementwise IEEE operations, so every IoU is bit-identical).
    """
    x1, y1, x2, y2, area = columns
    xx1 = np.maximum(x1[rows, None], x1[None, start:])
    yy1 = np.maximum(y1[rows, None], y1[None, start:])
    w = np.minimum(x2[rows, None], x2[None, start:])
    h = np.minimum(y2[rows, None], y2[None, start:])
    w -= xx1
    h -= yy1
    if offset:
        one = x1.dtype.type(offset)
        w += one
        h += one
    np.maximum(w, 0, out=w)
    np.maximum(h, 0, out=h)
    w *= h  # inter
    union = np.add(area[rows, None], area[None, start:], out=xx1)
    union -= w
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 is NaN, as in torch
        return np.divide(w, union, out=w)


# numpy's stable sort is a radix sort for keys of at most 16 bits (linear time) and a
# merge sort otherwise: 0.13 against 1.7 ms for 35k box indices (soft-NMS' pairs at 1000 boxes)
_RADIX_KEYS = np.uint16


def index_order(indices: np.ndarray, num: int) -> np.ndarray:
    """The stable sort order of ``indices`` (box indices in ``[0, num)``), as ``argsort(kind="stable")``.

    A stable sort's order is unique, so narrowing the keys to 16 bits where ``num``
    allows changes only the algorithm numpy picks, not the order.
    """
    if num <= np.iinfo(_RADIX_KEYS).max + 1:
        indices = indices.astype(_RADIX_KEYS)
    return np.argsort(indices, kind="stable")
