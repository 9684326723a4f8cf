"""Registration rules, did-you-mean errors, and types registered after the schemas were built."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pytest

from visdet.build import REGISTRIES, Component, build_component, registry, validate_component
from visdet.build.registry import Registry
from visdet.config import ConfigError


def test_registration_needs_a_literal_type_an_example_and_a_factory():
    reg = Registry("loss")

    class NoExample(Component):
        type: Literal["NoExample"]

        def build(self) -> None:
            return None

    class NoBuild(Component):
        type: Literal["NoBuild"]
        example: ClassVar[dict[str, Any]] = {"type": "NoBuild"}

    class NoLiteral(Component):
        example: ClassVar[dict[str, Any]] = {}

        def build(self) -> None:
            return None

    with pytest.raises(TypeError, match="'example' config"):
        reg.register(NoExample)
    with pytest.raises(TypeError, match="'build' method"):
        reg.register(NoBuild)
    with pytest.raises(TypeError, match="Literal of type names"):
        reg.register(NoLiteral)
    with pytest.raises(TypeError, match="only Component schemas"):
        reg.register(dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="registered twice"):
        registry("loss").register(type(validate_component("loss", {"type": "L1Loss"})))


def test_unknown_kinds_and_types_suggest_the_closest():
    with pytest.raises(KeyError, match="did you mean 'backbone'"):
        registry("backbones")
    with pytest.raises(KeyError, match="did you mean 'SmoothL1Loss'"):
        registry("loss").get("SmothL1Loss")
    with pytest.raises(ConfigError, match=r"head.loss_cls.type: unknown type 'ZebraCount' \(allowed: "):
        validate_component("loss", {"type": "ZebraCount"}, where="head.loss_cls")


def test_a_type_registered_late_joins_the_unions_already_built():
    validate_component("loss", {"type": "L1Loss"})  # the loss union is built now
    assert registry("loss").used

    class HalfL1Config(Component):
        type: Literal["HalfL1Loss"]
        example: ClassVar[dict[str, Any]] = {"type": "HalfL1Loss"}

        def build(self) -> Any:
            from visdet.models.losses import L1Loss

            return L1Loss(loss_weight=0.5)

    reg = REGISTRIES["loss"]
    reg.register(HalfL1Config)
    try:
        assert build_component("loss", {"type": "HalfL1Loss"}).loss_weight == 0.5
        head = build_component("bbox_head", {"type": "BBoxHead", "loss_bbox": {"type": "HalfL1Loss"}})
        assert head.loss_bbox.loss_weight == 0.5
    finally:
        reg._schemas.pop("HalfL1Loss")
        from visdet.build.component import rebuild_schemas

        rebuild_schemas()
    with pytest.raises(ConfigError, match="unknown type 'HalfL1Loss'"):
        validate_component("loss", {"type": "HalfL1Loss"})


def test_rpn_head_and_assigner_defaults_are_mmdets() -> None:
    """Defaults parity fixes (parity/test_defaults.py): an RPNHead without anchor_generator gets
    mmdet's AnchorHead default, a MaxIoUAssigner without iou_calculator mmdet's BboxOverlaps2D."""
    from visdet.build import build_component

    head = build_component("dense_head", {"type": "RPNHead", "in_channels": 4})
    generator = head.prior_generator if hasattr(head, "prior_generator") else head.anchor_generator
    assert [tuple(s) for s in generator.strides] == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]
    assert generator.num_base_priors == [9] * 5
    base = generator.base_anchors[0]
    sides = base[:, 2:] - base[:, :2]
    squares = sorted(float(w) for w, h in sides.tolist() if w == h)
    assert base.shape == (9, 4) and squares == [32.0, 64.0, 128.0]  # scales 8, 16, 32 at stride 4, ratio 1
    assigner = build_component("assigner", {"type": "MaxIoUAssigner", "pos_iou_thr": 0.5, "neg_iou_thr": 0.4})
    assert type(assigner.iou_calculator).__name__ == "BboxOverlaps2D"
