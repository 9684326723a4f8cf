"""``ImageMeta``: what a detector needs to know about one image of a batch.

mmdet passes these as ``metainfo`` dicts; visdet accepts such dicts at its public entry
points (``detector.predict``/``loss``, the heads' ``*_by_feat`` functions) and turns
them into :class:`ImageMeta` there, checking that the keys a step needs are present.

Fields (mmdet's names and conventions):

* ``img_shape`` ``(h, w)``: the resized image inside the padded batch; boxes are
  clipped to it. mmdet 2.x metas give ``(h, w, c)``; only ``(h, w)`` is kept.
* ``scale_factor`` ``(w_scale, h_scale)``: resized / original size, used to map boxes
  back to the original image with ``rescale=True``. A single number means both.
* ``pad_shape`` ``(h, w)``: the image padded to the size divisor (anchor valid flags).
* ``ori_shape``, ``batch_input_shape``: carried along as mmdet does.
* ``extra``: every other key of the dict (``img_id``, ``img_path``, ``flip``, ...).

Values are kept as given (ints stay ints), so arithmetic on them matches mmdet's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

Shape = tuple[Any, ...]


def _pair(value: Any) -> tuple[Any, Any] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (value, value)
    return tuple(value)[:2]  # type: ignore[return-value]


@dataclass(frozen=True)
class ImageMeta:
    """One image's geometry in a batch (see the module docstring)."""

    img_shape: Shape | None = None
    scale_factor: tuple[Any, Any] | None = None
    pad_shape: Shape | None = None
    ori_shape: Shape | None = None
    batch_input_shape: Shape | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any]) -> ImageMeta:
        """An ``ImageMeta`` from an mmdet ``metainfo`` dict (unknown keys go to ``extra``)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            img_shape=_pair(meta.get("img_shape")),
            scale_factor=_pair(meta.get("scale_factor")),
            pad_shape=_pair(meta.get("pad_shape")),
            ori_shape=_pair(meta.get("ori_shape")),
            batch_input_shape=_pair(meta.get("batch_input_shape")),
            extra={k: v for k, v in meta.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The mmdet ``metainfo`` dict (fields that are ``None`` are left out)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    def require(self, *names: str, where: str = "image meta") -> ImageMeta:
        """Raise ``KeyError`` naming the first of ``names`` that is missing; return ``self``."""
        for name in names:
            if getattr(self, name) is None:
                present = sorted(self.to_dict())
                raise KeyError(f"{where} lacks the key {name!r} (has: {present})")
        return self


def as_image_meta(meta: ImageMeta | Mapping[str, Any], where: str = "image meta") -> ImageMeta:
    """``meta`` as an :class:`ImageMeta` (dicts are converted; an ``ImageMeta`` is returned as is)."""
    if isinstance(meta, ImageMeta):
        return meta
    if not isinstance(meta, Mapping):
        raise TypeError(f"{where} must be a dict or an ImageMeta, got {type(meta).__name__}")
    return ImageMeta.from_dict(meta)


def image_metas(
    metas: Sequence[ImageMeta | Mapping[str, Any]],
    num_images: int | None = None,
    require: Sequence[str] = (),
) -> list[ImageMeta]:
    """A batch's metas as ``ImageMeta``, checked against the batch.

    Args:
        metas: One dict (or ``ImageMeta``) per image.
        num_images: The batch size the metas must match, or ``None``.
        require: Fields every meta must have.

    Raises:
        TypeError: ``metas`` is not a list of dicts.
        ValueError: The count differs from ``num_images``.
        KeyError: A required field is missing (naming the image and the key).
    """
    if isinstance(metas, (Mapping, ImageMeta)) or not isinstance(metas, Sequence):
        raise TypeError(f"metas must be a list of per-image dicts, got {type(metas).__name__}")
    if num_images is not None and len(metas) != num_images:
        raise ValueError(f"got {len(metas)} metas for a batch of {num_images} images")
    return [as_image_meta(meta, f"metas[{i}]").require(*require, where=f"metas[{i}]") for i, meta in enumerate(metas)]
