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
compared with the tolerance that ``parity/tolerances.yaml`` gives the case and key.
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
            "description": self.description,
        }

    def inputs(self, seed: int | None = None, params: Mapping[str, Any] | None = None) -> Tensors:
        """Draw this case's inputs from a generator seeded with ``seed`` (default: the case's)."""
        generator = torch.Generator().manual_seed(self.seed if seed is None else seed)
        return self.make_inputs(self.params if params is None else params, generator)


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
