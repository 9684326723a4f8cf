"""``AssignResult``: which ground-truth box (if any) each of N priors was assigned to.

``gt_inds[i]`` is 1-based: ``k >= 1`` means prior ``i`` is a positive of gt ``k - 1``,
``0`` means negative (background) and ``-1`` means ignored (neither). ``labels[i]`` is the
assigned gt's class for positives and ``-1`` otherwise; ``max_overlaps[i]`` is the best
IoU of prior ``i`` with any gt.
"""

from __future__ import annotations

from typing import Any

import torch


class AssignResult:
    """The assignment of N priors to G ground-truth boxes.

    Args:
        num_gts: Number of ground-truth boxes G.
        gt_inds: ``LongTensor[N]``, 1-based gt index, 0 for negative, -1 for ignored.
        max_overlaps: ``Tensor[N]``, IoU of each prior with its best gt.
        labels: ``LongTensor[N]``, class of the assigned gt, -1 when unassigned.
    """

    def __init__(
        self,
        num_gts: int,
        gt_inds: torch.Tensor,
        max_overlaps: torch.Tensor,
        labels: torch.Tensor,
    ) -> None:
        if gt_inds.dim() != 1:
            raise ValueError(f"gt_inds must be 1-D [N], got shape {tuple(gt_inds.shape)}")
        for name, value in (("max_overlaps", max_overlaps), ("labels", labels)):
            if value is not None and value.shape != gt_inds.shape:
                raise ValueError(
                    f"{name} has shape {tuple(value.shape)}, gt_inds has {tuple(gt_inds.shape)}"
                )
        self.num_gts = num_gts
        self.gt_inds = gt_inds
        self.max_overlaps = max_overlaps
        self.labels = labels
        self._extra_properties: dict[str, Any] = {}

    @property
    def num_preds(self) -> int:
        """Number of priors N."""
        return len(self.gt_inds)

    def set_extra_property(self, key: str, value: Any) -> None:
        """Attach a named extra value (as mmdet's assigners do for some heads)."""
        if key in self.info:
            raise KeyError(f"extra property {key!r} already exists")
        self._extra_properties[key] = value

    def get_extra_property(self, key: str) -> Any:
        """The extra value ``key``, or None."""
        return self._extra_properties.get(key)

    @property
    def info(self) -> dict[str, Any]:
        """All fields and extra properties as a dict."""
        basic = {
            "num_gts": self.num_gts,
            "num_preds": self.num_preds,
            "gt_inds": self.gt_inds,
            "max_overlaps": self.max_overlaps,
            "labels": self.labels,
        }
        basic.update(self._extra_properties)
        return basic

    def with_gt_prepended(self, gt_labels: torch.Tensor) -> AssignResult:
        """A new result in which the G ground-truth boxes are themselves priors 0..G-1.

        Each gt box is a positive of itself with overlap 1 (what mmdet's ``add_gt_``
        does in place; this returns a copy and leaves ``self`` unchanged).

        Args:
            gt_labels: ``LongTensor[G]`` classes of the gt boxes.

        Returns:
            An ``AssignResult`` over ``G + N`` priors.
        """
        self_inds = torch.arange(1, len(gt_labels) + 1, dtype=torch.long, device=gt_labels.device)
        result = AssignResult(
            num_gts=self.num_gts,
            gt_inds=torch.cat([self_inds, self.gt_inds]),
            max_overlaps=torch.cat([self.max_overlaps.new_ones(len(gt_labels)), self.max_overlaps]),
            labels=torch.cat([gt_labels, self.labels]),
        )
        result._extra_properties = dict(self._extra_properties)
        return result

    def add_gt_(self, gt_labels: torch.Tensor) -> None:
        """In-place form of :meth:`with_gt_prepended` (mmdet's name and behaviour)."""
        extended = self.with_gt_prepended(gt_labels)
        self.gt_inds, self.max_overlaps, self.labels = (
            extended.gt_inds,
            extended.max_overlaps,
            extended.labels,
        )

    def __repr__(self) -> str:
        return (
            f"AssignResult(num_gts={self.num_gts}, num_preds={self.num_preds}, "
            f"num_pos={int((self.gt_inds > 0).sum())}, num_ignored={int((self.gt_inds < 0).sum())})"
        )
