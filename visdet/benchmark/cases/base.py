"""What a benchmark case is, and the registry of cases.

A :class:`Case` names one component (``"ops/nms"``), the input-size axis it sweeps
(``"boxes"``, ``"rois"``, ``"image side"``) and, per implementation (``"visdet"``,
``"mmdet"`` for mmcv/mmdet's equivalent), a builder that makes a :class:`Workload`
for one size on one device. Builders import their component lazily and raise
:class:`ComponentUnavailable` when it is not importable, so the catalogue can list
components that do not exist yet.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import nn

# The implementations a case may provide: visdet itself, and the reference
# (mmcv 2.1 ops, mmdet 3.3 modules) it must match.
IMPLS = ("visdet", "mmdet")

# Inputs of every case are drawn from a generator seeded with this, so runs compare
# the same work.
SEED = 0


class ComponentUnavailable(RuntimeError):
    """The component (or the reference) cannot be imported or built in this environment."""


@dataclass
class Workload:
    """Ready-to-call work for one size.

    Attributes:
        forward: Runs the component once (inference; no autograd graph kept).
        train: Runs forward and backward once, or None when there is no backward.
        module: The ``nn.Module`` measured, for parameter counts, or None.
    """

    forward: Callable[[], Any]
    train: Callable[[], Any] | None = None
    module: nn.Module | None = None


Builder = Callable[[int, torch.device], Workload]


@dataclass(frozen=True)
class Case:
    """One component to benchmark over input sizes.

    Attributes:
        component: ``"<family>/<name>"``, e.g. ``"ops/nms"``.
        size_name: What the size counts, e.g. ``"boxes"``.
        sizes: Sizes measured by default.
        quick_sizes: Tiny sizes for smoke runs and tests.
        builders: Implementation name -> builder.
        description: One line about the workload (shapes, settings).
        slow: True when a default-size run takes many seconds.
    """

    component: str
    size_name: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    builders: Mapping[str, Builder]
    description: str
    slow: bool = False

    @property
    def family(self) -> str:
        """The part before the slash: ``ops``, ``layers``, ``losses`` or ``models``."""
        return self.component.split("/", 1)[0]


_REGISTRY: dict[str, Case] = {}


def register(case: Case) -> Case:
    """Add ``case`` to the catalogue.

    Raises:
        ValueError: A case with the same component name is already registered, or
            an implementation name is unknown.
    """
    if case.component in _REGISTRY:
        raise ValueError(f"benchmark case {case.component!r} is already registered")
    unknown = set(case.builders) - set(IMPLS)
    if unknown:
        raise ValueError(f"{case.component}: unknown implementations {sorted(unknown)}")
    _REGISTRY[case.component] = case
    return case


def registered_cases() -> dict[str, Case]:
    """All registered cases by component name (a copy)."""
    return dict(_REGISTRY)


def require(*candidates: str) -> Any:
    """Import the first available ``"package.module:attribute"`` of ``candidates``.

    Raises:
        ComponentUnavailable: None of them imports; the message lists each failure.
    """
    failures = []
    for candidate in candidates:
        module_name, _, attr = candidate.partition(":")
        try:
            module = importlib.import_module(module_name)
            found = getattr(module, attr) if attr else module
        except (ImportError, AttributeError) as exc:
            failures.append(f"{candidate} ({type(exc).__name__}: {exc})")
            continue
        if attr and inspect.ismodule(found):
            # e.g. a namespace package exposing the submodule ``nms`` instead of the function
            failures.append(f"{candidate} (is a module, not the callable)")
            continue
        return found
    raise ComponentUnavailable("not available yet: " + "; ".join(failures))


def generator() -> torch.Generator:
    """A CPU generator seeded with :data:`SEED`."""
    return torch.Generator().manual_seed(SEED)


def random_boxes(
    num: int, gen: torch.Generator, *, image_size: float = 1000.0, max_side: float = 200.0
) -> torch.Tensor:
    """``Tensor[num, 4]`` float32 xyxy boxes inside a square image, sides 4..max_side."""
    xy = torch.rand(num, 2, generator=gen) * image_size
    wh = 4.0 + torch.rand(num, 2, generator=gen) * (max_side - 4.0)
    return torch.cat([xy, (xy + wh).clamp(max=image_size)], dim=1)


def _total(output: Any) -> torch.Tensor:
    """Sum every floating tensor in a (nested) output to a scalar, for backward."""
    if isinstance(output, torch.Tensor):
        return output.float().sum() if output.is_floating_point() else output.new_zeros(())
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        parts = [_total(item) for item in output]
        parts = [p for p in parts if p.requires_grad]
        return torch.stack(parts).sum() if parts else torch.zeros(())
    return torch.zeros(())


def module_workload(
    module: nn.Module, inputs: tuple[Any, ...], device: torch.device, *, train: bool = True
) -> Workload:
    """Workload of a module called as ``module(*inputs)``.

    ``forward`` runs in eval mode under ``torch.no_grad``; ``train`` (when asked for)
    runs in train mode, sums every floating output and back-propagates into the
    parameters and into floating inputs, then clears the gradients.

    Args:
        module: The module; moved to ``device``.
        inputs: Positional inputs, already on ``device``.
        device: Where to compute.
        train: Whether to provide a forward + backward workload.
    """
    module = module.to(device)
    # Inference gets detached inputs: views of grad-requiring leaves made under no_grad
    # confuse torch's module tracker (used by the FLOP counter).
    detached = pytree.tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, inputs)

    def forward() -> Any:
        module.eval()
        with torch.no_grad():
            return module(*detached)

    def train_step() -> None:
        module.train()
        _total(module(*inputs)).backward()
        module.zero_grad(set_to_none=True)

    return Workload(forward=forward, train=train_step if train else None, module=module)
