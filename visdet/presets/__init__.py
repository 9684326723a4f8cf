"""YAML config presets (package data); see :mod:`visdet.config.presets`."""
