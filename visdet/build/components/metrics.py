"""Metric schemas: ``CocoMetric``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component
from visdet.build.registry import registry
from visdet.evaluation import CocoMetric


@registry("metric").register
class CocoMetricConfig(Component):
    """``CocoMetric``: COCO box (and mask, proposal) AP and AR with pycocotools."""

    type: Literal["CocoMetric"]
    ann_file: str = Field(description="the COCO annotation file of the evaluated split")
    metric: Literal["bbox", "segm", "proposal"] | list[Literal["bbox", "segm", "proposal"]] = "bbox"
    classwise: bool = False
    proposal_nums: list[int] = [100, 300, 1000]
    iou_thrs: float | list[float] | None = None
    metric_items: list[str] | None = None
    format_only: bool = False
    outfile_prefix: str | None = None
    sort_categories: bool = False
    backend_args: None = Field(None, description="remote file backends are not supported (must be null)")
    collect_device: Literal["cpu", "gpu"] = "cpu"
    prefix: str | None = None
    example: ClassVar[dict[str, Any]] = {"type": "CocoMetric", "ann_file": "annotations.json"}

    def build(self) -> CocoMetric:
        """The metric (it reads ``ann_file`` when made)."""
        return CocoMetric(**self.arguments("backend_args"))
