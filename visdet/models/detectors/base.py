"""What every detector shares: the ``Detector`` interface and the input checks.

Shapes: ``inputs [B, C, H, W]`` is the preprocessed, padded batch (see
``DetDataPreprocessor``); ``metas`` are B image metas (mmdet's metainfo dicts or
:class:`~visdet.structures.ImageMeta`, see there for the keys); results are
``Instances`` with ``bboxes [N, 4]`` xyxy, ``scores [N]``, ``labels [N]``.

Detectors compose these functions rather than inherit them (at most two levels below
``nn.Module``): ``check_inputs``, ``check_gt_instances``, ``extract_features``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from visdet.structures import ImageMeta, Instances

PREDICT_META_KEYS = ("img_shape",)
RESCALE_META_KEYS = ("scale_factor",)
LOSS_META_KEYS = ("img_shape", "pad_shape")


@runtime_checkable
class Detector(Protocol):
    """The interface of every visdet detector (what ``apis``, the engine and users call).

    Attributes:
        num_classes: Number of object classes K (labels are in ``[0, K)``).
        dataset_meta: ``{"classes": names, ...}`` once known (``init_detector`` sets it
            from the checkpoint or the class count), else ``None``.
    """

    dataset_meta: dict[str, Any] | None

    @property
    def num_classes(self) -> int:
        """Number of object classes K."""
        ...

    def loss(
        self,
        inputs: Tensor,
        metas: Sequence[ImageMeta | Mapping[str, Any]],
        gt_instances: Sequence[Instances],
        gt_instances_ignore: Sequence[Instances | None] | None = None,
    ) -> dict[str, Tensor]:
        """Training losses with mmdet's names."""
        ...

    def predict(
        self, inputs: Tensor, metas: Sequence[ImageMeta | Mapping[str, Any]], rescale: bool = True
    ) -> list[Instances]:
        """Detections per image (``bboxes``, ``scores``, ``labels``)."""
        ...


def check_inputs(inputs: Tensor, backbone: nn.Module) -> None:
    """Raise a clear error unless ``inputs`` is a float ``[B, C, H, W]`` batch for ``backbone``."""
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a (B, C, H, W) tensor, got {type(inputs).__name__}")
    if inputs.dim() != 4:
        raise ValueError(f"inputs must be a (B, C, H, W) tensor, got shape {tuple(inputs.shape)}")
    expected = getattr(backbone, "in_channels", None)
    if expected is not None and inputs.shape[1] != expected:
        raise ValueError(f"inputs have {inputs.shape[1]} channels, the backbone takes {expected}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be floating point (preprocessed), got {inputs.dtype}")


def check_gt_instances(gt_instances: Sequence[Instances], num_images: int) -> None:
    """Raise a clear error unless there is one ``Instances`` with ``bboxes`` and ``labels`` per image."""
    if len(gt_instances) != num_images:
        raise ValueError(f"got {len(gt_instances)} gt_instances for {num_images} images")
    for i, gt in enumerate(gt_instances):
        if not (gt.has("bboxes") and gt.has("labels")):
            raise KeyError(f"gt_instances[{i}] needs 'bboxes' and 'labels', has {gt.keys()}")


def extract_features(backbone: nn.Module, neck: nn.Module | None, inputs: Tensor) -> tuple[Tensor, ...]:
    """Pyramid features of ``inputs [B, C, H, W]``: the backbone's, through the neck if any."""
    feats = backbone(inputs)
    if neck is not None:
        feats = neck(feats)
    return tuple(feats)


def sum_levels(losses: Mapping[str, Any]) -> dict[str, Tensor]:
    """Per-level loss lists summed into one tensor each (as mmengine logs them)."""
    return {name: sum(value) if isinstance(value, (list, tuple)) else value for name, value in losses.items()}
