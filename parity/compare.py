"""Comparison of visdet outputs with reference outputs, with the tolerance file's rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import yaml

TOLERANCES = Path(__file__).with_name("tolerances.yaml")


@dataclass(frozen=True)
class Tolerance:
    """Absolute and relative tolerance for one output key (``exact`` means equality).

    An element passes when ``|got - ref| <= atol_eff + rtol * |ref|``, where ``atol_eff``
    is ``atol``, or with ``scaled`` ``atol * max(1, max |ref|)``: the rounding error of
    an accumulated output grows with the size of what was summed, which the output's
    largest element bounds (the floor of 1 keeps near-zero outputs in absolute terms).
    """

    atol: float
    rtol: float
    exact: bool = False
    reason: str = ""
    scaled: bool = False

    def describe(self) -> str:
        """Short text for the report."""
        if self.exact:
            return "exact"
        atol = f"{self.atol:g}*max(1,|ref|)" if self.scaled else f"{self.atol:g}"
        return f"atol={atol} rtol={self.rtol:g}"


@lru_cache(maxsize=1)
def _load_tolerances() -> dict[str, Any]:
    with TOLERANCES.open() as handle:
        data = yaml.safe_load(handle)
    for name in ("default", "default_float64"):
        if not isinstance(data, dict) or not {"atol", "rtol"} <= set(data.get(name) or {}):
            raise ValueError(f"{TOLERANCES}: needs a '{name}' entry with atol and rtol")
    for i, entry in enumerate(data.get("overrides") or []):
        missing = {"match", "atol", "rtol", "reason"} - set(entry)
        if missing:
            raise ValueError(f"{TOLERANCES}: overrides[{i}] lacks {sorted(missing)}")
        if not str(entry["reason"]).strip():
            raise ValueError(f"{TOLERANCES}: overrides[{i}] ({entry['match']}) has an empty reason")
    return data


def tolerance_for(case_key: str, output_key: str, exact: bool, dtype: torch.dtype = torch.float32) -> Tolerance:
    """The tolerance for ``output_key`` of case ``case_key`` ("component/name").

    An override that matches wins; otherwise the default for the reference tensor's
    dtype: ``default`` for float32 (and anything not float64), ``default_float64`` for
    float64 (see :mod:`parity.precision`).
    """
    if exact:
        return Tolerance(0.0, 0.0, exact=True)
    data = _load_tolerances()
    target = f"{case_key}:{output_key}"
    for entry in data.get("overrides") or []:
        if entry.get("dtype") not in (None, str(dtype).removeprefix("torch.")):
            continue  # an override for float64 outputs leaves float32 ones at the default
        if fnmatch(target, entry["match"]):
            return Tolerance(float(entry["atol"]), float(entry["rtol"]), scaled=bool(entry.get("scaled", False)),
                             reason=entry["reason"])
    default = data["default_float64"] if dtype == torch.float64 else data["default"]
    return Tolerance(float(default["atol"]), float(default["rtol"]), scaled=bool(default.get("scaled", False)))


@dataclass
class KeyResult:
    """Comparison of one output tensor."""

    key: str
    ok: bool
    max_abs: float
    max_rel: float
    tolerance: Tolerance
    message: str = ""


@dataclass
class CaseResult:
    """Comparison of all outputs of one case; ``ok`` when every key passed."""

    keys: list[KeyResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(k.ok for k in self.keys)

    @property
    def max_abs(self) -> float:
        return max((k.max_abs for k in self.keys), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((k.max_rel for k in self.keys), default=0.0)

    def worst(self) -> KeyResult | None:
        """The failing key if any, else the key with the largest absolute error."""
        failing = [k for k in self.keys if not k.ok]
        if failing:
            return failing[0]
        return max(self.keys, key=lambda k: k.max_abs, default=None)

    def failure_text(self) -> str:
        return "\n".join(f"  {k.key}: {k.message}" for k in self.keys if not k.ok)


def compare_tensor(key: str, got: torch.Tensor, ref: torch.Tensor, tol: Tolerance) -> KeyResult:
    """Compare one tensor: same shape and dtype, then equal or close within ``tol``."""
    if not isinstance(got, torch.Tensor):
        return KeyResult(key, False, math.inf, math.inf, tol, f"visdet gave {type(got).__name__}, not a tensor")
    if got.shape != ref.shape:
        message = f"shape {tuple(got.shape)} != reference {tuple(ref.shape)}"
        return KeyResult(key, False, math.inf, math.inf, tol, message)
    if got.dtype != ref.dtype:
        return KeyResult(key, False, math.inf, math.inf, tol, f"dtype {got.dtype} != reference {ref.dtype}")
    got = got.detach().cpu()
    ref = ref.detach().cpu()
    if got.numel() == 0:
        return KeyResult(key, True, 0.0, 0.0, tol)
    if not (got.is_floating_point() or got.is_complex()):
        equal = torch.equal(got, ref)
        diff = (got.to(torch.float64) - ref.to(torch.float64)).abs()
        max_abs = float(diff.max())
        differ = diff > 0
        message = "" if equal else f"{int(differ.sum())} of {got.numel()} entries differ (first at {_first(differ)})"
        return KeyResult(key, equal, max_abs, max_abs, tol, message)
    nan_got, nan_ref = torch.isnan(got), torch.isnan(ref)
    if not torch.equal(nan_got, nan_ref):
        return KeyResult(key, False, math.inf, math.inf, tol, "NaN positions differ")
    g = got.to(torch.float64)[~nan_got]
    r = ref.to(torch.float64)[~nan_ref]
    diff = (g - r).abs()
    diff = torch.where(g == r, torch.zeros_like(diff), diff)  # equal infinities
    max_abs = float(diff.max()) if diff.numel() else 0.0
    nonzero = r.abs() > 0
    max_rel = float((diff[nonzero] / r.abs()[nonzero]).max()) if nonzero.any() else 0.0
    if tol.exact:
        ok = max_abs == 0.0
    else:
        atol = tol.atol * max(1.0, float(r.abs().max())) if tol.scaled and r.numel() else tol.atol
        ok = bool((diff <= atol + tol.rtol * r.abs()).all())
    message = "" if ok else f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g} beyond {tol.describe()}"
    return KeyResult(key, ok, max_abs, max_rel, tol, message)


def _first(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def compare_outputs(
    case_key: str,
    got: dict[str, torch.Tensor],
    ref: dict[str, torch.Tensor],
    exact: tuple[str, ...],
    empty_ok: str = "",
) -> CaseResult:
    """Compare every reference output key with visdet's; a missing key fails.

    Nothing to compare is a failure: no reference outputs at all, or outputs that are
    all empty, unless ``empty_ok`` gives the reason emptiness is what the case tests.
    """
    result = CaseResult()
    nothing = Tolerance(0.0, 0.0, exact=True)
    if not ref:
        result.keys.append(KeyResult("<none>", False, math.inf, math.inf, nothing, "the reference gave no outputs"))
        return result
    if not empty_ok and all(isinstance(v, torch.Tensor) and v.numel() == 0 for v in ref.values()):
        message = "every reference output is empty, so nothing is compared (declare empty_ok if that is the point)"
        result.keys.append(KeyResult("<all>", False, math.inf, math.inf, nothing, message))
    for key in sorted(ref):
        is_exact = key in exact or fnmatch_any(key, exact)
        tol = tolerance_for(case_key, key, exact=is_exact, dtype=getattr(ref[key], "dtype", torch.float32))
        if key not in got:
            result.keys.append(KeyResult(key, False, math.inf, math.inf, tol, "visdet did not return this output"))
            continue
        result.keys.append(compare_tensor(key, got[key], ref[key], tol))
    extra = sorted(set(got) - set(ref))
    if extra:
        tol = tolerance_for(case_key, extra[0], exact=False)
        result.keys.append(KeyResult(extra[0], False, math.inf, math.inf, tol, f"outputs the reference lacks: {extra}"))
    return result


def fnmatch_any(key: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``key`` matches any glob in ``patterns``."""
    return any(fnmatch(key, p) for p in patterns)


def near_tie_order(ref_scores: torch.Tensor, ref_boxes: torch.Tensor, ref_labels: torch.Tensor,
                   scores: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                   score_tol: float = 1e-7, box_tol: float = 1e-2) -> torch.Tensor:
    """The order of visdet's detections that lines them up with the reference's, across near ties.

    Detections are ranked by score. Two detections whose scores differ by a few float32
    ulps in one library can tie (or swap) in the other, and then they come out in the
    other order: every later comparison by position would see two unrelated boxes. This
    pairs each reference detection with a visdet detection of the same label, a score
    within ``score_tol`` and a box within ``box_tol`` px, looking only among detections whose
    scores are within ``score_tol`` of each other. Returns the index order for visdet's
    detections (the identity when nothing is swapped); a detection with no such partner
    keeps its place, so a real difference still shows in the comparison that follows.
    """
    n = min(len(ref_scores), len(scores))
    perm: list[int | None] = [None] * len(scores)
    used: set[int] = set()
    for i in range(n):
        candidates = [j for j in range(len(scores)) if j not in used
                      and abs(float(scores[j]) - float(ref_scores[i])) <= score_tol
                      and int(labels[j]) == int(ref_labels[i])
                      and float((boxes[j] - ref_boxes[i]).abs().max()) <= box_tol]
        if candidates:
            perm[i] = i if i in candidates else candidates[0]
            used.add(perm[i])
    rest = iter(j for j in range(len(scores)) if j not in used)
    return torch.tensor([j if j is not None else next(rest) for j in perm], dtype=torch.long)
