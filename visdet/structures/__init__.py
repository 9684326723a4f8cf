"""Typed containers shared by models, data and evaluation."""

from visdet.structures.instances import Instances

__all__ = ["Instances"]
