"""Configs: YAML with inheritance, presets, mmdet config reading (the schemas are in visdet.build)."""

from visdet.config.errors import ConfigError
from visdet.config.loader import load_config, load_config_tree, resolve_config
from visdet.config.merge import merge
from visdet.config.node import ConfigNode
from visdet.config.presets import find_preset, list_presets, model_preset

__all__ = [
    "ConfigError",
    "ConfigNode",
    "find_preset",
    "list_presets",
    "load_config",
    "load_config_tree",
    "merge",
    "model_preset",
    "resolve_config",
]
