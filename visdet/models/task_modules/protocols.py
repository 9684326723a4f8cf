"""Interfaces of the task modules: prior generators, box coders, assigners, samplers.

Shape shorthand: N priors (anchors or proposals), G ground-truth boxes, L feature levels,
A base anchors per feature-map cell, K = 4 * number of classes for class-wise deltas.
Boxes are absolute ``(x1, y1, x2, y2)``.

These are ``typing.Protocol`` classes: an implementation needs the methods, not a base
class, so heads can take any object with the right shape of methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from visdet.models.task_modules.assign_result import AssignResult
    from visdet.models.task_modules.sampling_result import SamplingResult
    from visdet.structures.instances import Instances


@runtime_checkable
class PriorGenerator(Protocol):
    """Makes the priors (anchors or points) of every feature level."""

    @property
    def num_levels(self) -> int:
        """Number of feature levels L."""
        ...

    @property
    def num_base_priors(self) -> list[int]:
        """Priors per feature-map cell, one entry per level."""
        ...

    def grid_priors(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> list[torch.Tensor]:
        """Priors of every level, ``Tensor[H_l * W_l * A_l, 4]`` each."""
        ...

    def valid_flags(
        self,
        featmap_sizes: Sequence[tuple[int, int]],
        pad_shape: Sequence[int],
        device: torch.device | str = "cpu",
    ) -> list[torch.Tensor]:
        """Whether each prior lies inside the padded image, ``BoolTensor[H_l * W_l * A_l]``."""
        ...


@runtime_checkable
class BoxCoder(Protocol):
    """Turns boxes into regression targets and regression outputs back into boxes."""

    def encode(self, bboxes: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """Deltas ``Tensor[N, 4]`` that move ``bboxes`` onto ``gt_bboxes`` (both ``[N, 4]``)."""
        ...

    def decode(
        self,
        bboxes: torch.Tensor,
        pred_bboxes: torch.Tensor,
        max_shape: Sequence[int] | torch.Tensor | None = None,
        wh_ratio_clip: float = 16 / 1000,
    ) -> torch.Tensor:
        """Boxes ``Tensor[..., N, K]`` from priors ``[..., N, 4]`` and deltas ``[..., N, K]``."""
        ...


@runtime_checkable
class Assigner(Protocol):
    """Assigns each prior to a ground-truth box, to background, or to "ignore"."""

    def assign(
        self,
        pred_instances: Instances,
        gt_instances: Instances,
        gt_instances_ignore: Instances | None = None,
    ) -> AssignResult:
        """Assign ``pred_instances.priors`` (``[N, 4]``) to ``gt_instances.bboxes`` (``[G, 4]``)."""
        ...


@runtime_checkable
class Sampler(Protocol):
    """Chooses which assigned priors take part in the loss."""

    def sample(
        self,
        assign_result: AssignResult,
        pred_instances: Instances,
        gt_instances: Instances,
    ) -> SamplingResult:
        """Pick positive and negative priors from an assignment."""
        ...
