"""Configs: YAML with inheritance, presets, pydantic schemas, mmdet config conversion."""

from visdet.config.errors import ConfigError
from visdet.config.loader import ConfigNode, load_config, load_config_tree, resolve_config
from visdet.config.merge import merge
from visdet.config.presets import find_preset, list_presets

__all__ = [
    "ConfigError",
    "ConfigNode",
    "find_preset",
    "list_presets",
    "load_config",
    "load_config_tree",
    "merge",
    "resolve_config",
]
