"""Deprecated: the old Faster R-CNN builder functions, as calls into :mod:`visdet.build`.

mmdet-shaped ``train_cfg``/``test_cfg`` (the detector's, e.g. ``{"rpn": ...}``) are
routed onto the head as :func:`visdet.build.route_settings` does for a whole detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visdet.build import build_component, build_model, route_settings
from visdet.build.routing import TWO_STAGE_ROUTES
from visdet.config.presets import model_preset

Settings = Mapping[str, Any] | None


def _head(kind: str, name: str, cfg: Any, train_cfg: Settings, test_cfg: Settings) -> Any:
    routes = [route for route in TWO_STAGE_ROUTES if route.target[0] == name]
    routed = route_settings({name: cfg, "train_cfg": train_cfg, "test_cfg": test_cfg}, routes, where="")
    return build_component(kind, routed.config[name], where=name)


def build_rpn_head(cfg: Any, train_cfg: Settings, test_cfg: Settings) -> Any:
    """An ``RPNHead`` from its config and the detector's ``train_cfg``/``test_cfg``."""
    return _head("dense_head", "rpn_head", cfg, train_cfg, test_cfg)


def build_roi_head(cfg: Any, train_cfg: Settings, test_cfg: Settings) -> Any:
    """A ``StandardRoIHead`` from its config and the detector's ``train_cfg``/``test_cfg``."""
    return _head("roi_head", "roi_head", cfg, train_cfg, test_cfg)


def build_roi_extractor(cfg: Any, where: str) -> Any:
    """An RoI extractor from its config."""
    return build_component("roi_extractor", cfg, where=where)


def build_bbox_head(cfg: Any, where: str) -> Any:
    """A box head from its config."""
    return build_component("bbox_head", cfg, where=where)


def build_faster_rcnn(model_cfg: Mapping[str, Any]) -> Any:
    """A detector from mmdet's model dict (see :func:`visdet.build.build_model`)."""
    return build_model(model_cfg)


def faster_rcnn_r50_fpn(num_classes: int = 80) -> dict[str, Any]:
    """The Faster R-CNN R50-FPN model dict of the packaged preset, with ``num_classes`` classes."""
    model = model_preset("faster_rcnn_r50_fpn")
    model["roi_head"]["bbox_head"]["num_classes"] = num_classes
    return model
