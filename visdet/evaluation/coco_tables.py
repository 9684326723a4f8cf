"""Names of COCOeval's ``stats`` entries, mmdet's rounding, and the per-class AP table."""

from __future__ import annotations

import numpy as np

# position of each named result in COCOeval.stats (AP rows use maxDets[-1], as COCOeval)
STAT_INDEX: dict[str, int] = {
    "mAP": 0, "mAP_50": 1, "mAP_75": 2, "mAP_s": 3, "mAP_m": 4, "mAP_l": 5,
    "AR@100": 6, "AR@300": 7, "AR@1000": 8, "AR_s@1000": 9, "AR_m@1000": 10, "AR_l@1000": 11,
}  # fmt: skip

CLASSWISE_HEADERS = ("category", "mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")


def round3(value: float) -> float:
    """The value as mmdet reports it: ``round(value, 3)`` as a Python float."""
    return float(f"{round(value, 3)}")


def _mean_valid(precision: np.ndarray) -> float:
    valid = precision[precision > -1]
    return float(np.mean(valid)) if valid.size else float("nan")


def classwise_table(precisions: np.ndarray, names: list[str]) -> tuple[str, dict[str, float]]:
    """Per-class AP from ``COCOeval.eval["precision"]`` ``[T, R, K, A, M]``.

    For class k: AP over all IoUs (``[:, :, k, 0, -1]``), AP at IoU index 0 and 5 (0.5 and
    0.75 with the default thresholds), and AP for the small / medium / large area ranges;
    all at the last ``maxDets``, ignoring ``-1`` (no ground truth) entries.

    Returns:
        The table as text and ``{name: round(AP, 3)}``.
    """
    if precisions.shape[2] != len(names):
        raise ValueError(f"precision has {precisions.shape[2]} classes but {len(names)} names were given")
    rows, per_class = [], {}
    for k, name in enumerate(names):
        ap = _mean_valid(precisions[:, :, k, 0, -1])
        per_class[name] = round(ap, 3)
        values = [ap]
        values += [_mean_valid(precisions[t, :, k, 0, -1]) for t in (0, 5) if t < precisions.shape[0]]
        values += [_mean_valid(precisions[:, :, k, a, -1]) for a in (1, 2, 3)]
        rows.append([name] + [f"{round(v, 3)}" for v in values])
    widths = [max(len(str(r[i])) for r in [list(CLASSWISE_HEADERS)] + rows) for i in range(len(rows[0]))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [list(CLASSWISE_HEADERS)] + rows]
    return "\n".join(lines), per_class
