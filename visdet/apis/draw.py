"""Draw detections on an image: a box, a ``class score`` label and, with masks, a tinted mask per detection."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# A fixed, well-separated palette (BGR), cycled over class indices.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
    (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
    (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)  # fmt: skip


def draw_detections(
    image: np.ndarray,
    bboxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    masks: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``image`` with the detections drawn.

    Args:
        image: ``uint8[H, W, 3]`` BGR.
        bboxes: ``float[N, 4]`` xyxy in the image's pixels.
        scores: ``float[N]``.
        labels: ``int[N]`` class indices into ``class_names``.
        class_names: Name of each class.
        masks: ``bool[N, H, W]`` instance masks (blended in the class colour), or ``None``.

    Returns:
        ``uint8[H, W, 3]`` BGR.
    """
    canvas = np.ascontiguousarray(image.copy())
    if masks is not None:
        for mask, label in zip(masks, labels):
            color = np.array(PALETTE[int(label) % len(PALETTE)], dtype=np.float32)
            region = mask.astype(bool)
            canvas[region] = (0.5 * canvas[region] + 0.5 * color).astype(np.uint8)
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    font_scale = max(0.35, min(height, width) / 1000)
    for box, score, label in zip(bboxes, scores, labels):
        color = PALETTE[int(label) % len(PALETTE)]
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        name = class_names[int(label)] if 0 <= int(label) < len(class_names) else str(int(label))
        text = f"{name} {float(score):.2f}"
        (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = max(y1 - text_h - baseline, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + text_w, top + text_h + baseline), color, -1)
        white = (255, 255, 255)
        cv2.putText(canvas, text, (x1, top + text_h), cv2.FONT_HERSHEY_SIMPLEX, font_scale, white, 1, cv2.LINE_AA)
    return canvas
