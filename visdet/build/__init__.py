"""The config boundary: one registry per component kind, typed schemas, factories, routing.

A config in mmdet's shape becomes objects here and nowhere else: each registered type
has a pydantic schema (its defaults, written once) whose ``build`` method is its factory
(see :mod:`visdet.build.registry`); mmdet's ``train_cfg``/``test_cfg`` are routed onto
the heads that use them (:mod:`visdet.build.routing`); errors name the config path.
Importing this package loads the model and data schemas (:mod:`visdet.build.catalog`).
"""

from visdet.build import catalog
from visdet.build.api import (
    build_component,
    build_model,
    build_pipeline,
    num_classes_override,
    route_model,
    validate_component,
    validate_model,
)
from visdet.build.component import Component, ComponentOf, Section
from visdet.build.registry import KINDS, REGISTRIES, Registry, registry
from visdet.build.routing import Route, route_settings
from visdet.build.validate import validate

__all__ = [
    "KINDS",
    "REGISTRIES",
    "Component",
    "ComponentOf",
    "Registry",
    "Route",
    "Section",
    "build_component",
    "build_model",
    "build_pipeline",
    "catalog",
    "num_classes_override",
    "registry",
    "route_model",
    "route_settings",
    "validate",
    "validate_component",
    "validate_model",
]
