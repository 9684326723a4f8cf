"""Necks: multi-scale backbone features -> multi-scale features for the heads."""

from visdet.models.necks.fpn import FPN

__all__ = ["FPN"]
