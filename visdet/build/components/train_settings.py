"""Training settings of a head that assigns priors or proposals and samples them.

mmdet's ``train_cfg.rpn``, ``train_cfg.rcnn`` (one per stage for Cascade R-CNN) and the
``train_cfg`` of one-stage detectors share this core: an ``assigner``, an optional
``sampler`` (without one every assigned prior is a sample, ``PseudoSampler``), the
``pos_weight`` of positives and mmdet's ``debug`` switch.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from visdet.build.component import Component, ComponentOf, Section
from visdet.models.task_modules import PseudoSampler


class AssignSampleSettings(Section):
    """Assignment and sampling of one head's training targets."""

    assigner: Annotated[Component, ComponentOf("assigner")]
    sampler: Annotated[Component, ComponentOf("sampler")] | None = None
    pos_weight: float = Field(-1, description="classification weight of positives; <= 0: 1")
    debug: bool = Field(False, description="mmdet's debugging switch; no effect")

    def build_sampler(self) -> Any:
        """The sampler, ``PseudoSampler`` when none is configured."""
        return self.sampler.build() if self.sampler is not None else PseudoSampler()


class AnchorTrainSettings(AssignSampleSettings):
    """Training settings of an anchor-based dense head (``train_cfg.rpn``; one-stage: ``train_cfg``)."""

    allowed_border: int = Field(-1, description="pixels an anchor may stick out of the image; < 0: no limit")

    def parts(self) -> dict[str, Any]:
        """``assigner``, ``sampler``, ``allowed_border``, ``pos_weight`` for the head's constructor."""
        return {"assigner": self.assigner.build(), "sampler": self.build_sampler(),
                "allowed_border": self.allowed_border, "pos_weight": self.pos_weight}  # fmt: skip


class RCNNTrainSettings(AssignSampleSettings):
    """Training settings of an R-CNN stage (mmdet's ``train_cfg.rcnn``)."""

    mask_size: int | list[int] | None = Field(None, description="mask target size (mask branch; 28 in Mask R-CNN)")
    soft_mask_target: bool = Field(False, description="keep fractional mask targets instead of 0/1")
