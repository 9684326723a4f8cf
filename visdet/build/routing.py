"""Route mmdet's ``train_cfg``/``test_cfg`` onto the heads that use them (a pure function).

mmdet writes a head's training and test settings in the detector's ``train_cfg`` and
``test_cfg``, in a shape that depends on the architecture:

* two-stage (Faster R-CNN): ``train_cfg.rpn``, ``train_cfg.rpn_proposal``,
  ``train_cfg.rcnn`` (a list, one per stage, for Cascade R-CNN), ``test_cfg.rpn``,
  ``test_cfg.rcnn``;
* one-stage (RetinaNet, FCOS, RTMDet, DETR): the whole ``train_cfg`` (with the
  ``assigner``) and ``test_cfg`` (``score_thr``, ``nms``...) belong to the ``bbox_head``;
* RPN alone: ``train_cfg.rpn`` and ``test_cfg.rpn``.

In visdet each head holds its own settings, typed by its schema (``rpn_head.train_cfg``,
``roi_head.test_cfg``, ...). Each detector schema names its :class:`Route` list;
:func:`route_settings` moves the values and records where each came from, so validation
errors name the place the user wrote (``model.test_cfg.rcnn.score_thr``). mmdet also
accepts the settings on the head itself; both places may be used as long as they agree.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from visdet.build.registry import did_you_mean, listing
from visdet.config.errors import ConfigError

SETTINGS_SECTIONS = ("train_cfg", "test_cfg")


@dataclass(frozen=True)
class Route:
    """Move the value at ``source`` (a path in the detector config) to ``target``."""

    source: tuple[str, ...]
    target: tuple[str, ...]


TWO_STAGE_ROUTES = (
    Route(("train_cfg", "rpn"), ("rpn_head", "train_cfg")),
    Route(("train_cfg", "rpn_proposal"), ("rpn_head", "rpn_proposal")),
    Route(("test_cfg", "rpn"), ("rpn_head", "test_cfg")),
    Route(("train_cfg", "rcnn"), ("roi_head", "train_cfg")),
    Route(("test_cfg", "rcnn"), ("roi_head", "test_cfg")),
)
SINGLE_STAGE_ROUTES = (
    Route(("train_cfg",), ("bbox_head", "train_cfg")),
    Route(("test_cfg",), ("bbox_head", "test_cfg")),
)
RPN_ROUTES = (
    Route(("train_cfg", "rpn"), ("rpn_head", "train_cfg")),
    Route(("test_cfg", "rpn"), ("rpn_head", "test_cfg")),
)


@dataclass(frozen=True)
class Routed:
    """A detector config with its settings moved onto the heads.

    Attributes:
        config: The new config (the input is not modified); no ``train_cfg``/``test_cfg``.
        origins: Full routed path -> full path where the value was written.
    """

    config: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)


def _join(prefix: str, parts: Sequence[str]) -> str:
    return ".".join([prefix, *parts]) if prefix else ".".join(parts)


def _check_sections(config: Mapping[str, Any], routes: Sequence[Route], where: str) -> None:
    """Every key of ``train_cfg``/``test_cfg`` must be routed somewhere."""
    for section in SETTINGS_SECTIONS:
        value = config.get(section)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"invalid config: {_join(where, [section])}: expected a mapping, got {value!r}")
        if any(route.source == (section,) for route in routes):
            continue  # the whole section goes to one head
        known = sorted(route.source[1] for route in routes if route.source[0] == section)
        for key in value:
            if key not in known:
                allowed = f" (allowed keys: {listing(known)})" if known else " (this detector takes none)"
                raise ConfigError(
                    f"invalid config: {_join(where, [section, key])}: unknown key{did_you_mean(key, known)}{allowed}"
                )


def route_settings(config: Mapping[str, Any], routes: Sequence[Route], *, where: str = "model") -> Routed:
    """Move ``train_cfg``/``test_cfg`` entries onto the heads (see the module docstring).

    Args:
        config: A detector config in mmdet's shape.
        routes: The detector's routes.
        where: The config's path (for messages and origins).

    Returns:
        The routed config and where each moved value came from.

    Raises:
        ConfigError: A ``train_cfg``/``test_cfg`` key no route takes, a target head that
            is missing, or a value given on the head and in the detector differently.
    """
    _check_sections(config, routes, where)
    out = copy.deepcopy({key: value for key, value in config.items() if key not in SETTINGS_SECTIONS})
    origins: dict[str, str] = {}
    for route in routes:
        value: Any = config
        for part in route.source:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            continue
        *head_path, key = route.target
        head: Any = out
        for part in head_path:
            head = head.get(part) if isinstance(head, Mapping) else None
        if not isinstance(head, dict):
            raise ConfigError(
                f"invalid config: {_join(where, route.source)} is given but {_join(where, head_path)} is missing"
            )
        own = head.get(key)
        if own is not None and own != value:
            raise ConfigError(
                f"invalid config: {_join(where, route.target)} differs from {_join(where, route.source)}; "
                "give the settings in one place"
            )
        head[key] = copy.deepcopy(value)
        origins[_join(where, route.target)] = _join(where, route.source)
    return Routed(config=out, origins=origins)
