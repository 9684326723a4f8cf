"""``Instances``: named tensors that describe the same N things (boxes, priors, detections).

Every field's first dimension is N, checked when the field is set, so boxes, labels and
scores can never drift apart. Field names follow mmdet's ``InstanceData`` (``bboxes``,
``labels``, ``scores``, ``priors``, ``masks``) so code and configs read the same.

Fields may also be mask structures (``BitmapMasks``, ``PolygonMasks``): they are
indexed with arrays and concatenated with their own ``cat``.

Conventions: boxes are ``Tensor[N, 4]`` absolute pixel ``(x1, y1, x2, y2)``; the
background class index is ``num_classes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch


class Instances:
    """A set of N instances, each field a tensor (or list) whose first dimension is N.

    Example:
        >>> inst = Instances(bboxes=torch.zeros(3, 4), labels=torch.tensor([0, 1, 2]))
        >>> len(inst), inst[inst.labels > 0].labels.tolist()
        (3, [1, 2])
    """

    __slots__ = ("_fields",)

    def __init__(self, **fields: Any) -> None:
        object.__setattr__(self, "_fields", {})
        for name, value in fields.items():
            self.set(name, value)

    # ----------------------------------------------------------------- fields
    def set(self, name: str, value: Any) -> None:
        """Set field ``name``; its length must equal the other fields' length."""
        if not hasattr(value, "__len__"):
            raise TypeError(f"Instances field {name!r} must be a tensor or sequence, got {type(value).__name__}")
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            raise ValueError(f"Instances field {name!r} must have a first dimension, got a scalar tensor")
        fields = self._fields
        others = [k for k in fields if k != name]
        if others:
            expected = len(fields[others[0]])
            if len(value) != expected:
                raise ValueError(
                    f"Instances field {name!r} has length {len(value)}, but field {others[0]!r} "
                    f"has length {expected}; all fields must describe the same instances"
                )
        fields[name] = value

    def get(self, name: str, default: Any = None) -> Any:
        """The field ``name``, or ``default`` when it is not set."""
        return self._fields.get(name, default)

    def has(self, name: str) -> bool:
        """Whether field ``name`` is set."""
        return name in self._fields

    def keys(self) -> list[str]:
        """Names of the set fields, in the order they were set."""
        return list(self._fields)

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` pairs of the set fields."""
        return iter(self._fields.items())

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        raise AttributeError(f"Instances has no field {name!r} (fields: {', '.join(fields) or 'none'})")

    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def __delattr__(self, name: str) -> None:
        del self._fields[name]

    def __getstate__(self) -> dict[str, Any]:
        return dict(self._fields)

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_fields", {})
        for name, value in state.items():
            self.set(name, value)

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def __len__(self) -> int:
        for value in self._fields.values():
            return len(value)
        return 0

    # --------------------------------------------------------------- indexing
    def __getitem__(self, index: int | slice | torch.Tensor | Sequence[int]) -> Instances:
        """Select instances by an int, slice, bool mask or index tensor."""
        if isinstance(index, int):
            index = slice(index, None if index == -1 else index + 1)
        if isinstance(index, torch.Tensor) and index.dtype == torch.bool and index.numel() != len(self):
            raise IndexError(f"bool mask of length {index.numel()} for {len(self)} instances")
        out = Instances()
        for name, value in self._fields.items():
            if isinstance(value, torch.Tensor):
                out.set(name, value[index])
            elif not isinstance(value, (list, tuple)) and hasattr(type(value), "cat"):
                # mask structures (BitmapMasks, PolygonMasks) index with arrays themselves
                out.set(name, value[_as_index_array(index, len(self))])
            else:
                idx = index.tolist() if isinstance(index, torch.Tensor) else index
                if isinstance(idx, slice):
                    out.set(name, value[idx])
                elif idx and isinstance(idx[0], bool):
                    out.set(name, type(value)(v for v, keep in zip(value, idx) if keep))
                else:
                    out.set(name, type(value)(value[i] for i in idx))
        return out

    def to(self, *args: Any, **kwargs: Any) -> Instances:
        """A copy with every tensor field moved by ``Tensor.to(*args, **kwargs)``."""
        out = Instances()
        for name, value in self._fields.items():
            out.set(name, value.to(*args, **kwargs) if isinstance(value, torch.Tensor) else value)
        return out

    @staticmethod
    def cat(parts: Sequence[Instances]) -> Instances:
        """Concatenate instances that have the same fields."""
        if not parts:
            raise ValueError("Instances.cat needs at least one Instances")
        names = parts[0].keys()
        for i, part in enumerate(parts):
            if sorted(part.keys()) != sorted(names):
                raise ValueError(f"Instances.cat: part {i} has fields {part.keys()}, part 0 has {names}")
        out = Instances()
        for name in names:
            values = [part.get(name) for part in parts]
            if isinstance(values[0], torch.Tensor):
                out.set(name, torch.cat(values, dim=0))
            elif not isinstance(values[0], (list, tuple)) and hasattr(type(values[0]), "cat"):
                out.set(name, type(values[0]).cat(values))
            else:
                merged: list[Any] = []
                for value in values:
                    merged.extend(value)
                out.set(name, type(values[0])(merged))
        return out

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{k}={tuple(v.shape) if isinstance(v, torch.Tensor) else len(v)}" for k, v in self._fields.items()
        )
        return f"Instances(num={len(self)}, {shapes})"


def _as_index_array(index: int | slice | torch.Tensor | Sequence[int], length: int) -> Any:
    """An index for NumPy-backed fields: slices stay, the rest become an int or bool array."""
    if isinstance(index, slice):
        return index
    if isinstance(index, torch.Tensor):
        return index.cpu().numpy()
    array = np.asarray(index)
    if array.dtype != bool and array.size == 0:
        array = array.astype(np.int64)
    return array


def empty_detections(device: torch.device | str, dtype: torch.dtype | None = None) -> Instances:
    """Zero detections: ``bboxes [0, 4]``, ``scores [0]`` (``dtype``), ``labels [0]`` (long).

    ``dtype`` defaults to torch's default float dtype, as mmdet's ``empty_instances``.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return Instances(
        bboxes=torch.zeros(0, 4, dtype=dtype, device=device),
        scores=torch.zeros(0, dtype=dtype, device=device),
        labels=torch.zeros(0, dtype=torch.long, device=device),
    )
