"""Image geometry helpers, re-exported from :mod:`visdet.ops.image_geometry` (their home).

They moved to ``visdet.ops`` so that the mask structures (a lower layer than the data
transforms) share them; this module keeps the transforms' imports working.
"""

from visdet.ops.image_geometry import (
    BORDER_MODES,
    FLIP_DIRECTIONS,
    INTERPOLATIONS,
    imflip,
    impad,
    imrescale,
    imresize,
    imtranslate,
    rescale_size,
    scale_size,
)

__all__ = [
    "BORDER_MODES",
    "FLIP_DIRECTIONS",
    "INTERPOLATIONS",
    "imflip",
    "impad",
    "imrescale",
    "imresize",
    "imtranslate",
    "rescale_size",
    "scale_size",
]
