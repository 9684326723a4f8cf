"""pydantic schemas of visdet configs: one per component, ``type`` as discriminator.

The schemas validate; they do not build. :func:`validate_config` checks a resolved
config dict and raises :class:`visdet.config.ConfigError` naming the path of each bad
value; :func:`config_json_schema` gives the JSON Schema editors use for completion.
"""

from __future__ import annotations

from typing import Any

from visdet.config.schemas.base import SCHEMAS, Component, Section
from visdet.config.schemas.detector import FasterRCNNSchema
from visdet.config.schemas.root import VisdetConfig
from visdet.config.schemas.validate import did_you_mean, validate, validate_config

__all__ = [
    "SCHEMAS",
    "Component",
    "FasterRCNNSchema",
    "Section",
    "VisdetConfig",
    "config_json_schema",
    "did_you_mean",
    "validate",
    "validate_config",
]


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a whole visdet config file."""
    schema = VisdetConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "visdet config"
    return schema
