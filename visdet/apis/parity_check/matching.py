"""Match two detectors' results on one image, whatever their order.

Near-equal scores can swap places in a sorted result, so detections are paired by
position, not by rank: the pair of boxes closest in L-infinity distance first (greedy),
each detection used once. Pairs further apart than ``max_pair_px`` stay unmatched.

Shapes: reference ``R`` detections and visdet ``V`` detections, ``bboxes [.., 4]`` xyxy
in original-image pixels, ``scores [..]``, ``labels [..]``, optional ``masks [.., H, W]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

# boxes further apart than this (pixels, L-infinity) are different detections
MAX_PAIR_PX = 4.0


@dataclass
class ImageComparison:
    """How one image's detections compare (see :func:`compare_detections`)."""

    name: str
    reference_count: int
    visdet_count: int
    matched: int
    worst_box_px: float = 0.0
    worst_score: float = 0.0
    label_disagreements: int = 0
    worst_mask_pixels: int | None = None
    unmatched_reference: list[tuple[int, float]] = field(default_factory=list)  # (label, score)
    unmatched_visdet: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly copy."""
        return dict(self.__dict__)


def _pairs(ref_boxes: Tensor, vis_boxes: Tensor, max_pair_px: float) -> list[tuple[int, int, float]]:
    if ref_boxes.numel() == 0 or vis_boxes.numel() == 0:
        return []
    distance = (ref_boxes[:, None, :].double() - vis_boxes[None, :, :].double()).abs().amax(-1)
    order = torch.argsort(distance.reshape(-1), stable=True)
    used_ref: set[int] = set()
    used_vis: set[int] = set()
    pairs = []
    columns = distance.shape[1]
    for flat in order.tolist():
        r, v = divmod(flat, columns)
        d = float(distance[r, v])
        if d > max_pair_px:
            break
        if r in used_ref or v in used_vis:
            continue
        used_ref.add(r)
        used_vis.add(v)
        pairs.append((r, v, d))
    return pairs


def compare_detections(
    name: str,
    reference: dict[str, Tensor],
    visdet: dict[str, Tensor],
    *,
    max_pair_px: float = MAX_PAIR_PX,
) -> ImageComparison:
    """Pair ``reference`` and ``visdet`` detections of image ``name`` and measure the differences.

    Args:
        name: The image (for the report).
        reference: ``bboxes``, ``scores``, ``labels`` (and ``masks``) of the reference.
        visdet: The same fields from visdet.
        max_pair_px: Boxes further apart than this are not paired.

    Returns:
        Counts, the worst box difference (pixels) and score difference over the pairs,
        the pairs whose labels differ, the most mask pixels any pair differs in, and the
        unmatched detections of each side as ``(label, score)``.
    """
    pairs = _pairs(reference["bboxes"], visdet["bboxes"], max_pair_px)
    out = ImageComparison(name, len(reference["scores"]), len(visdet["scores"]), len(pairs))
    masks = "masks" in reference and "masks" in visdet
    if masks:
        out.worst_mask_pixels = 0
    for r, v, d in pairs:
        out.worst_box_px = max(out.worst_box_px, d)
        out.worst_score = max(out.worst_score, abs(float(reference["scores"][r]) - float(visdet["scores"][v])))
        out.label_disagreements += int(int(reference["labels"][r]) != int(visdet["labels"][v]))
        if masks:
            differing = int((reference["masks"][r].bool() != visdet["masks"][v].bool()).sum())
            out.worst_mask_pixels = max(out.worst_mask_pixels or 0, differing)
    paired_ref = {r for r, _, _ in pairs}
    paired_vis = {v for _, v, _ in pairs}
    out.unmatched_reference = [
        (int(reference["labels"][i]), float(reference["scores"][i]))
        for i in range(out.reference_count)
        if i not in paired_ref
    ]
    out.unmatched_visdet = [
        (int(visdet["labels"][i]), float(visdet["scores"][i])) for i in range(out.visdet_count) if i not in paired_vis
    ]
    return out
