"""``RandomChoice``: run one of several sub-pipelines, picked at random per item.

The branch is drawn with one ``np.random.choice(np.arange(n), p=prob)`` on numpy's global
RNG, the call mmcv 2.1's ``RandomChoice`` makes, so a seeded numpy RNG takes the same
branch as the reference (and the branch's own transforms then draw in the same order).
DETR's training pipelines use it to choose between a plain multi-scale resize and
resize, crop, resize.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from visdet.data.transforms.compose import Compose

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class RandomChoice:
    """Apply one sub-pipeline chosen at random.

    Args:
        transforms: The candidates, each a list of transforms (a :class:`Compose` is
            made of it) or a single transform.
        prob: The probability of each candidate (summing to 1), or ``None`` for a
            uniform choice. mmcv asserts the plain ``sum(prob) == 1``; visdet accepts what
            ``np.random.choice`` accepts (a sum within 1e-8 of 1, so ``[0.7, 0.2, 0.1]``
            is allowed) and passes ``prob`` to it unchanged, so the draws are mmcv's.

    Raises:
        ValueError: No candidate, or ``prob`` has the wrong length, a negative entry or
            does not sum to 1.
    """

    def __init__(
        self, *, transforms: Sequence[Sequence[Transform] | Transform], prob: Sequence[float] | None = None
    ) -> None:
        if not transforms:
            raise ValueError("RandomChoice needs at least one candidate in `transforms`")
        if prob is not None:
            prob = [float(p) for p in prob]
            if len(prob) != len(transforms):
                raise ValueError(f"RandomChoice got {len(prob)} probabilities for {len(transforms)} candidates")
            if any(p < 0 for p in prob) or not math.isclose(sum(prob), 1.0, rel_tol=0.0, abs_tol=1e-8):
                raise ValueError(f"RandomChoice prob must be non-negative and sum to 1, got {prob}")
        self.prob = prob
        self.transforms = [Compose(branch if isinstance(branch, Sequence) else [branch]) for branch in transforms]

    def choose(self) -> int:
        """The index of the candidate to run (one draw from numpy's global RNG, as mmcv)."""
        return int(np.random.choice(np.arange(len(self.transforms)), p=self.prob))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any] | None:
        """Run ``results`` through a randomly chosen candidate (``None`` if one of its transforms rejects it)."""
        return self.transforms[self.choose()](results)

    def __repr__(self) -> str:
        return f"RandomChoice(transforms={self.transforms}, prob={self.prob})"
