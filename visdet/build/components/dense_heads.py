"""Dense-head schemas: ``RPNHead`` with its training settings (mmdet's ``train_cfg.rpn``)."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from visdet.build.component import Component, ComponentOf, InitConfig, component_default, init_field
from visdet.build.components.train_settings import AnchorTrainSettings
from visdet.build.registry import registry
from visdet.models.dense_heads import ProposalConfig, RPNHead


@registry("dense_head").register
class RPNHeadConfig(Component):
    """``RPNHead``: objectness and box deltas per anchor, proposals by NMS."""

    type: Literal["RPNHead"]
    in_channels: int = Field(ge=1)
    feat_channels: int = Field(256, ge=1)
    num_convs: int = Field(1, ge=1)
    num_classes: int = Field(1, description="proposals are class-agnostic: mmdet warns and uses 1")
    # mmdet's AnchorHead default (three scales, three ratios, five FPN strides)
    anchor_generator: Annotated[Component, ComponentOf("prior_generator")] = component_default(
        {"type": "AnchorGenerator", "scales": [8, 16, 32], "ratios": [0.5, 1.0, 2.0], "strides": [4, 8, 16, 32, 64]}
    )
    bbox_coder: Annotated[Component, ComponentOf("bbox_coder")] = component_default({"type": "DeltaXYWHBBoxCoder"})
    loss_cls: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "CrossEntropyLoss", "use_sigmoid": True, "loss_weight": 1.0}
    )
    loss_bbox: Annotated[Component, ComponentOf("loss")] = component_default(
        {"type": "SmoothL1Loss", "beta": 1.0 / 9.0, "loss_weight": 1.0}
    )
    reg_decoded_bbox: bool = False
    train_cfg: AnchorTrainSettings | None = Field(None, description="mmdet's train_cfg.rpn")
    test_cfg: ProposalConfig | None = Field(None, description="mmdet's test_cfg.rpn")
    rpn_proposal: ProposalConfig | None = Field(
        None, description="proposals while training (mmdet's train_cfg.rpn_proposal); default: test_cfg"
    )
    init_cfg: InitConfig = init_field()
    example: ClassVar[dict[str, Any]] = {
        "type": "RPNHead", "in_channels": 4, "feat_channels": 4,
        "anchor_generator": {"type": "AnchorGenerator", "strides": [4, 8], "ratios": [1.0], "scales": [8]},
        "train_cfg": {"assigner": {"type": "MaxIoUAssigner", "pos_iou_thr": 0.7, "neg_iou_thr": 0.3},
                      "sampler": {"type": "RandomSampler", "num": 16, "pos_fraction": 0.5,
                                  "add_gt_as_proposals": False}},
    }  # fmt: skip

    def build(self) -> RPNHead:
        """The head, with its training parts when ``train_cfg`` is given."""
        if self.num_classes != 1:  # mmdet warns and forces 1
            warnings.warn(f"rpn_head.num_classes should be 1, got {self.num_classes}; using 1", stacklevel=2)
        return RPNHead(
            in_channels=self.in_channels,
            feat_channels=self.feat_channels,
            num_convs=self.num_convs,
            anchor_generator=self.anchor_generator.build(),
            bbox_coder=self.bbox_coder.build(),
            loss_cls=self.loss_cls.build(),
            loss_bbox=self.loss_bbox.build(),
            reg_decoded_bbox=self.reg_decoded_bbox,
            test_proposals=self.test_cfg,
            train_proposals=self.rpn_proposal,
            **(self.train_cfg.parts() if self.train_cfg is not None else {}),
        )
