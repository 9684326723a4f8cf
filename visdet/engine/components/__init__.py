"""Schemas of the engine's config sections (optimizers, schedules, hooks, loops) and of a whole config.

Importing this package registers the engine's kinds and loads the model and data ones
(:mod:`visdet.build.catalog`), so every registry is complete.
"""

from visdet.engine.components import hooks, loops, optimizers, runtime, schedulers
from visdet.engine.components.root import VisdetConfig, config_json_schema, validate_config

MODULES = (optimizers, schedulers, hooks, loops, runtime)

__all__ = ["MODULES", "VisdetConfig", "config_json_schema", "validate_config"]
