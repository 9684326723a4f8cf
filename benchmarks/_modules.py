"""A base for asv suites of nn.Modules: build once per impl, time, peak memory, FLOPs.

Subclasses set ``params = (IMPLS, sizes)``, ``slow_sizes`` and implement ``build(impl)``
(returns the module; raise NotImplementedError when it is not importable) and
``make_inputs(size)`` (a tuple of positional inputs). ``setup_cache`` builds the module
of each implementation once per environment and keeps its ``state_dict`` (asv pickles
the cache to the benchmark processes, and not every module pickles); ``setup`` rebuilds
the module and loads those weights. A build that fails is remembered as a reason and
skipped in ``setup``.
asv keys the cache by where ``setup_cache`` is defined, so every subclass defines its
own ``setup_cache`` (calling :meth:`build_all`); an inherited one would be shared.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._common import IMPLS, SEED, configure_torch, load, skip_slow


def mmdet_component(path: str) -> Any:
    """An mmdet class, after registering mmdet's modules (skipped without mmdet)."""
    load("mmdet.utils:register_all_modules")(init_default_scope=True)
    return load(path)


def total(output: Any) -> torch.Tensor:
    """Sum of every floating tensor in a nested output (for backward)."""
    if isinstance(output, torch.Tensor):
        return output.float().sum() if output.is_floating_point() else torch.zeros(())
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        parts = [total(item) for item in output]
        parts = [p for p in parts if p.requires_grad]
        return torch.stack(parts).sum() if parts else torch.zeros(())
    return torch.zeros(())


class _ModuleBench:
    slow_sizes: tuple[int, ...] = ()
    timeout = 300
    repeat = (1, 5, 30.0)

    def build(self, impl: str) -> torch.nn.Module:
        raise NotImplementedError

    def make_inputs(self, size: int) -> tuple:
        raise NotImplementedError

    def build_all(self):
        """``{impl: state_dict}``, or ``{impl: reason}`` where it cannot be built."""
        configure_torch()
        built = {}
        for impl in IMPLS:
            torch.manual_seed(SEED)
            try:
                built[impl] = self.build(impl).state_dict()
            except (NotImplementedError, ImportError) as exc:
                built[impl] = f"{impl}: {type(exc).__name__}: {exc}"
        return built

    def setup(self, built, impl, size):
        skip_slow(size in self.slow_sizes)
        configure_torch()
        if isinstance(built[impl], str):
            raise NotImplementedError(built[impl])
        self.module = self.build(impl)
        self.module.load_state_dict(built[impl])
        self.inputs = self.make_inputs(size)
        self.detached = tuple(
            t.detach() if isinstance(t, torch.Tensor) else tuple(x.detach() for x in t) for t in self.inputs
        )

    def _forward(self):
        self.module.eval()
        with torch.no_grad():
            return self.module(*self.detached)

    def time_forward(self, built, impl, size):
        self._forward()

    def time_forward_backward(self, built, impl, size):
        self.module.train()
        total(self.module(*self.inputs)).backward()
        self.module.zero_grad(set_to_none=True)

    def peakmem_forward(self, built, impl, size):
        self._forward()

    def track_flops(self, built, impl, size):
        with FlopCounterMode(display=False) as counter:
            self._forward()
        return counter.get_total_flops()

    track_flops.unit = "FLOP"

    def track_params(self, built, impl, size):
        return sum(p.numel() for p in self.module.parameters())

    track_params.unit = "count"
