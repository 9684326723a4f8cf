"""``build_detector``: the one place where a config of any kind becomes a detector.

Accepted configs: a preset name (``"faster_rcnn_r50_fpn"``), a YAML path, an mmdet 3.x
Python config path, a whole config dict (with ``model``), or a model dict. The model
section goes through the config boundary (:func:`visdet.build.build_model`): its
``train_cfg``/``test_cfg`` are routed onto the heads and it is validated against the
registered schemas first, so mistakes are reported with their config path before
anything is built; any registered detector type works.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from visdet.config.errors import ConfigError
from visdet.config.loader import resolve_config
from visdet.config.presets import YAML_SUFFIXES, list_presets

if TYPE_CHECKING:
    from torch import nn


def _model_presets() -> list[str]:
    return [name.split("/", 1)[1] for name in list_presets() if name.startswith("models/")]


def load_detector_config(config: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The whole resolved config for ``config`` (see the module docstring).

    Raises:
        ConfigError: When ``config`` is a string that is neither a file nor a preset, or
            the config has no ``model`` section.
        TypeError: When ``config`` is not a string, path or mapping.
    """
    if isinstance(config, (str, os.PathLike)):
        text = os.fspath(config)
        is_file_like = text.endswith((*YAML_SUFFIXES, ".py")) or os.path.exists(text)
        if not is_file_like and text not in list_presets() and text not in _model_presets():
            raise ConfigError(
                f"unknown detector preset {text!r} (model presets: {', '.join(_model_presets())}; "
                f"all presets: {', '.join(list_presets())})"
            )
    elif not isinstance(config, Mapping):
        raise TypeError(f"build_detector takes a config dict, a preset name or a path, got {type(config).__name__}")
    resolved = resolve_config(config)
    if not isinstance(resolved.get("model"), Mapping):
        raise ConfigError(f"the config has no 'model' section (top-level keys: {', '.join(resolved) or 'none'})")
    return resolved


def build_detector(config: str | os.PathLike[str] | Mapping[str, Any]) -> nn.Module:
    """Build a detector with random weights (fill it with ``visdet.load_checkpoint``).

    Args:
        config: A preset name, a YAML or mmdet ``.py`` path, a whole config dict or the
            ``model`` dict of one (mmdet's keyword names).

    Returns:
        The detector (``predict``, ``loss``, ``forward``, ``num_classes``,
        ``dataset_meta``); its ``state_dict`` keys are mmdet's for the same config.

    Raises:
        ConfigError: For unknown presets, unreadable files and invalid model configs,
            naming the config path of the problem.
    """
    from visdet.build import build_model  # models load on first use

    source = os.fspath(config) if isinstance(config, (str, os.PathLike)) else ""
    return build_model(load_detector_config(config)["model"], source=source)
