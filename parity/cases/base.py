"""The one definition of a parity case, shared by the golden generator and the tests.

A case names a component (``ops/nms``), a case name, a JSON-serialisable ``params``
dict (shapes and options), and three functions:

* ``make_inputs(params, generator) -> dict[str, Tensor]`` draws the inputs from a seeded
  ``torch.Generator``. Golden files store what it drew; live tests call it with a
  hypothesis-drawn seed.
* ``reference(params, inputs) -> dict[str, Tensor]`` runs mmcv/mmdet (imported inside the
  function, so this module imports without them). Keys starting with ``state.`` are
  weights that the visdet side loads (for modules); every other key is an output.
* ``visdet(params, inputs_and_state) -> dict[str, Tensor]`` runs visdet on the inputs
  (plus the ``state.*`` entries) and returns the same output keys.

Outputs listed in ``exact`` (indices, labels, counts) must be equal; the others are
compared with the tolerance that ``parity/tolerances.yaml`` gives the case, key and dtype.

Precision (``dtype``): cases whose outputs accumulate many products (whole backbones,
necks, heads, the detector, the training step) run in ``float64`` on both sides; see
:mod:`parity.precision` for why and how. Everything else runs in ``float32``.

Emptiness: a case whose outputs are all empty compares nothing, and fails, unless it
declares ``empty_ok`` with the reason emptiness is what it tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

Tensors = dict[str, torch.Tensor]
MakeInputs = Callable[[Mapping[str, Any], torch.Generator], Tensors]
RunFn = Callable[[Mapping[str, Any], Tensors], Tensors]

STATE_PREFIX = "state."


@dataclass(frozen=True)
class Case:
    """One parity case: inputs from a seed, the reference's outputs, visdet's outputs."""

    component: str
    name: str
    params: Mapping[str, Any]
    make_inputs: MakeInputs
    reference: RunFn
    visdet: RunFn
    exact: tuple[str, ...] = ()
    seed: int = 0
    live: bool = True
    description: str = ""
    # extra dicts merged into params for live runs, chosen by hypothesis (optional)
    live_params: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    # "float32", or "float64" for deep accumulations (see parity.precision)
    dtype: str = "float32"
    # non-empty: why a result with no elements at all is this case's point
    empty_ok: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"parity case {self.key}: dtype must be 'float32' or 'float64', got {self.dtype!r}")

    @property
    def key(self) -> str:
        """``component/name``, also the golden file's path below ``golden/``."""
        return f"{self.component}/{self.name}"

    @property
    def golden_relpath(self) -> str:
        """Path of the golden file relative to the ``golden/`` folder."""
        return f"{self.key}.safetensors"

    def definition(self) -> dict[str, Any]:
        """The JSON record of this case (written into MANIFEST.json)."""
        return {
            "component": self.component,
            "name": self.name,
            "params": json.loads(json.dumps(dict(self.params))),
            "seed": self.seed,
            "exact": list(self.exact),
            "dtype": self.dtype,
            "empty_ok": self.empty_ok,
            "description": self.description,
        }

    def inputs(self, seed: int | None = None, params: Mapping[str, Any] | None = None) -> Tensors:
        """Draw this case's inputs from a generator seeded with ``seed`` (default: the case's).

        Inputs are always drawn in float32 (so one seed gives the same values whatever the
        case's precision); floating inputs are then promoted to the case's dtype.
        """
        from parity.precision import promote

        generator = torch.Generator().manual_seed(self.seed if seed is None else seed)
        drawn = self.make_inputs(self.params if params is None else params, generator)
        return promote(drawn, self.dtype)

    def run_reference(self, params: Mapping[str, Any], inputs: Tensors) -> Tensors:
        """The reference's results at the case's precision (mmcv/mmdet must be importable)."""
        from parity.precision import reference_precision

        with reference_precision(self.dtype):
            return self.reference(params, {k: v.clone() for k, v in inputs.items()})

    def run_visdet(self, params: Mapping[str, Any], tensors: Tensors) -> Tensors:
        """visdet's results at the case's precision, from inputs plus the ``state.*`` entries."""
        from parity.precision import visdet_precision

        with visdet_precision(self.dtype):
            return self.visdet(params, {k: v.clone() for k, v in tensors.items()})


CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    """Add ``case`` to the registry; a second case with the same key is an error."""
    if case.key in CASES:
        raise ValueError(f"parity case {case.key!r} is registered twice")
    if "/" in case.name or not case.name:
        raise ValueError(f"parity case name {case.name!r} must be non-empty without '/'")
    CASES[case.key] = case
    return case


def split_state(tensors: Mapping[str, torch.Tensor]) -> tuple[Tensors, Tensors]:
    """Split a reference result into (state.* entries, outputs)."""
    state = {k: v for k, v in tensors.items() if k.startswith(STATE_PREFIX)}
    outputs = {k: v for k, v in tensors.items() if not k.startswith(STATE_PREFIX)}
    return state, outputs
