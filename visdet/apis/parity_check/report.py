"""The result of ``visdet parity check``: a verdict, its evidence, markdown and JSON.

Exit codes: 0 the same within the tolerances, 1 they differ (the report says where and by
how much), 2 the check could not run (no supported mmdet, an unsupported component, a
checkpoint that fits neither model, unreadable input).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from visdet.apis.parity_check.coverage import CoverageRow, markdown_table
from visdet.apis.parity_check.matching import ImageComparison

SAME, DIFFERS, NOT_RUN = 0, 1, 2
VERDICTS = {SAME: "same", DIFFERS: "differs", NOT_RUN: "could not run"}


@dataclass(frozen=True)
class Tolerances:
    """What "the same" means for detections and losses."""

    box_px: float = 0.01
    score: float = 1e-4
    mask_fraction: float = 1e-3  # of the reference instance's mask pixels (at least 1 pixel)
    loss_rel: float = 1e-4

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"boxes within {self.box_px:g} px, scores within {self.score:g}, equal labels, masks differing in "
            f"at most {self.mask_fraction:.1%} of an instance's pixels, losses within {self.loss_rel:g} relative"
        )


def keys_by_module(keys: list[str], depth: int = 2) -> dict[str, int]:
    """How many of ``keys`` fall under each module prefix (``roi_head.bbox_head``: 4)."""
    return dict(Counter(".".join(k.split(".")[:depth]) for k in keys))


@dataclass
class ParityReport:
    """Everything ``visdet parity check`` found."""

    config: str
    checkpoint: str
    tolerances: Tolerances = field(default_factory=Tolerances)
    versions: dict[str, str] = field(default_factory=dict)
    coverage: list[CoverageRow] = field(default_factory=list)
    weights: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # side -> missing/unexpected
    images: list[ImageComparison] = field(default_factory=list)
    losses: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (mmdet, visdet)
    code: int = SAME
    reasons: list[str] = field(default_factory=list)

    def fail(self, code: int, reason: str) -> None:
        """Record a reason; the worst code wins (could not run > differs > same)."""
        self.code = max(self.code, code)
        self.reasons.append(reason)

    def require_detections(self, score_thr: float | None) -> None:
        """Nothing compared is not "same": fail (could not run) when no image has a detection in either library.

        Random or barely trained weights with mmdet's default ``score_thr`` (0.05) often give
        no detection at all; the reason says so and names the threshold.
        """
        if self.images and not any(im.reference_count or im.visdet_count for im in self.images):
            where = "the config's score threshold" if score_thr is None else f"--score-thr {score_thr:g}"
            self.fail(NOT_RUN, f"nothing to compare: neither library detects anything on the {len(self.images)} "
                               f"image(s) at {where}; lower it (for example --score-thr 0.01) or use other images")

    @property
    def verdict(self) -> str:
        """``same``, ``differs`` or ``could not run``."""
        return VERDICTS[self.code]

    def to_json(self) -> str:
        """The report as JSON."""
        data: dict[str, Any] = {
            "config": self.config,
            "checkpoint": self.checkpoint,
            "verdict": self.verdict,
            "exit_code": self.code,
            "reasons": self.reasons,
            "tolerances": self.tolerances.__dict__,
            "versions": self.versions,
            "coverage": [row.__dict__ for row in self.coverage],
            "weights": self.weights,
            "images": [image.to_dict() for image in self.images],
            "losses": {k: {"mmdet": a, "visdet": b} for k, (a, b) in self.losses.items()},
        }
        return json.dumps(data, indent=1)

    def to_markdown(self) -> str:
        """The report as markdown: verdict first, then coverage, weights, images, losses."""
        lines = [
            "# visdet parity check",
            "",
            f"**Verdict: {self.verdict}** (exit code {self.code})",
            "",
            f"- config: `{self.config}`",
            f"- checkpoint: `{self.checkpoint}`",
            f"- versions: {', '.join(f'{k} {v}' for k, v in self.versions.items()) or '-'}",
            f"- tolerances: {self.tolerances.describe()}",
        ]
        lines += [f"- {reason}" for reason in self.reasons]
        if self.coverage:
            lines += ["", "## Components", "", markdown_table(self.coverage)]
        if self.weights:
            lines += ["", "## Weights", ""]
            for side, keys in self.weights.items():
                missing, unexpected = keys.get("missing", []), keys.get("unexpected", [])
                if not missing and not unexpected:
                    lines.append(f"- {side}: the checkpoint loads strictly")
                    continue
                lines.append(f"- {side}: {len(missing)} missing {keys_by_module(missing)}, "
                             f"{len(unexpected)} unexpected {keys_by_module(unexpected)}")  # fmt: skip
        if self.images:
            lines += [
                "", "## Predictions", "",
                "| image | mmdet | visdet | matched | worst box px | worst score | labels differ | worst mask px |",
                "|---|---|---|---|---|---|---|---|",
            ]  # fmt: skip
            for im in self.images:
                mask = "-" if im.worst_mask_pixels is None else str(im.worst_mask_pixels)
                counts = f"{im.reference_count} | {im.visdet_count} | {im.matched}"
                errors = f"{im.worst_box_px:.2e} | {im.worst_score:.2e} | {im.label_disagreements} | {mask}"
                lines.append(f"| {im.name} | {counts} | {errors} |")
        if self.losses:
            lines += ["", "## Losses", "", "| term | mmdet | visdet |", "|---|---|---|"]
            lines += [f"| {name} | {a:.6g} | {b:.6g} |" for name, (a, b) in self.losses.items()]
        return "\n".join(lines) + "\n"
