"""Optional ``torch.compile`` of a fused detector's convolutional parts, for inference.

``compile_for_inference(model)`` changes a model that went through
:func:`visdet.models.fuse.fuse_for_inference` in place and returns it. The parts that are
pure tensor code and hold most of the time are compiled with TorchInductor, with
*freezing* on (weights become constants of the compiled graph, so Inductor can pre-pack
them for oneDNN and fold what depends on them alone):

* every detector: ``backbone`` and ``neck``;
* a two-stage detector (Faster / Mask / Cascade R-CNN): also ``rpn_head``;
* a one-stage detector (RetinaNet, FCOS, RTMDet, RPN): also ``bbox_head``.

Everything else (proposal selection, RoIAlign, NMS, the DETR transformer, post-processing)
stays as it is: its shapes depend on the data and it runs visdet's own numpy/torch paths.

What to expect, measured on the project's 2-core CPU (``benchmarks/README.md``): the first
call compiles (about 10-30 s for ResNet-50 + FPN), so does the first call at a second
image size (the graph is then made shape-generic, once); after that the ResNet-50 + FPN
trunk at 800x1216 takes about two thirds of the fused model's time. The detections
change by float32 rounding only (Inductor's convolutions sum in another order; the test
bounds it as for fusion).

Limits, each one an error rather than a silent change:

* The compiled parts run without autograd, and their weights are read when a graph is
  compiled (the convolutions' are packed into copies for oneDNN): do not change them
  afterwards. The model is fused, so it already refuses ``train()`` and ``state_dict()``.
* A compiled model cannot be pickled or deep-copied (``torch.compile``'s code belongs to
  this process); copy or save the unfused model and compile the copy.
* On CPU, Inductor builds C++ kernels: its C++ compiler (``$CXX``, else ``g++``) must be
  on ``PATH`` and Python's ``Python.h`` installed, checked up front.
* Calls of compiled parts from several Python threads run one at a time (each still uses
  torch's intra-op threads): Inductor's freezing switch is process-wide.
"""

from __future__ import annotations

import dataclasses
import shutil
import sysconfig
import threading
from pathlib import Path
from typing import Any

import torch
from torch import nn

from visdet.models.fuse import is_fused

COMPILED_ATTR = "visdet_compiled"
# Inductor's configuration is process-wide: calls from several threads take turns, so that
# one thread's switching freezing off again cannot reach another's compiling (or leave it on).
_FREEZING_LOCK = threading.RLock()


@dataclasses.dataclass(frozen=True)
class CompileInfo:
    """What :func:`compile_for_inference` did to a model."""

    parts: tuple[str, ...]
    dynamic: bool | None


def is_compiled(model: nn.Module) -> bool:
    """Whether ``model`` went through :func:`compile_for_inference`."""
    return isinstance(getattr(model, COMPILED_ATTR, None), CompileInfo)


def compiled_parts(model: nn.Module) -> tuple[str, ...]:
    """The names of ``model``'s sub-modules that :func:`compile_for_inference` compiles."""
    from visdet.models.detectors.single_stage import SingleStageDetector
    from visdet.models.detectors.two_stage import TwoStageDetector

    names = ["backbone", "neck"]
    if isinstance(model, TwoStageDetector):
        names.append("rpn_head")
    elif isinstance(model, SingleStageDetector):
        names.append("bbox_head")
    return tuple(name for name in names if isinstance(getattr(model, name, None), nn.Module))


def _inductor_compilers() -> tuple[str, ...]:
    """The compilers Inductor tries on CPU, in its order (its ``cpp.cxx``: ``$CXX``, else ``g++``)."""
    from torch._inductor import config as inductor_config

    names = inductor_config.cpp.cxx
    return tuple(name for name in (names if isinstance(names, (list, tuple)) else (names,)) if name)


def cpp_compiler() -> str | None:
    """The C++ compiler Inductor would use on CPU, or ``None`` if none of its choices is on ``PATH``."""
    return next((name for name in _inductor_compilers() if shutil.which(name)), None)


def missing_toolchain() -> str | None:
    """Why Inductor cannot build CPU kernels here (no C++ compiler, no ``Python.h``), or None."""
    if cpp_compiler() is None:
        return (
            "torch.compile's CPU backend builds C++ kernels, and no C++ compiler was found "
            f"({', '.join(_inductor_compilers())} on PATH; $CXX names another): install one (e.g. apt install "
            "g++) or run without compiling"
        )
    include = sysconfig.get_path("include")
    if not include or not (Path(include) / "Python.h").is_file():
        return (
            f"torch.compile's CPU kernels include Python.h, which is not in {include}: install Python's "
            "development headers (e.g. apt install python3-dev) or run without compiling"
        )
    return None


class FrozenCompiled:
    """A sub-module's ``forward`` compiled by Inductor with freezing, called without autograd.

    Freezing is read from Inductor's global configuration while the graph is traced and
    compiled (``torch.compile(options=...)`` does not reach the tracing), so it is switched
    on around each call only, one thread at a time.
    """

    def __init__(self, forward: Any, *, dynamic: bool | None) -> None:
        self._compiled = torch.compile(forward, dynamic=dynamic)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The compiled ``forward``'s result, under ``torch.no_grad`` with Inductor's freezing on."""
        from torch._inductor import config as inductor_config

        with _FREEZING_LOCK, torch.no_grad(), inductor_config.patch(freezing=True):
            return self._compiled(*args, **kwargs)

    def __reduce__(self) -> Any:
        raise TypeError(
            "a model compiled with visdet.models.compile cannot be pickled or copied: copy or save the "
            "unfused model (init_detector(..., fuse=False)) and compile the copy"
        )


def compile_for_inference(model: nn.Module, *, dynamic: bool | None = None) -> nn.Module:
    """Compile ``model``'s convolutional parts with TorchInductor (freezing on), in place.

    Args:
        model: A detector fused by :func:`visdet.models.fuse.fuse_for_inference`.
        dynamic: ``torch.compile``'s ``dynamic``: ``None`` compiles for the first image
            size and makes the graph shape-generic when a second one comes; ``True``
            shape-generic from the start; ``False`` one graph per size.

    Returns:
        ``model``, with ``model.visdet_compiled`` (a :class:`CompileInfo`) set.

    Raises:
        ValueError: If ``model`` is not fused, or has none of the parts compiled.
        RuntimeError: If the model is on the CPU and no C++ compiler or ``Python.h`` is found.
    """
    if is_compiled(model):
        return model
    if not is_fused(model):
        raise ValueError(
            "compile_for_inference needs a fused model: call visdet.models.fuse.fuse_for_inference(model) "
            "first (init_detector(..., compile=True) does both)"
        )
    parts = compiled_parts(model)
    if not parts:
        raise ValueError(f"{type(model).__name__} has no backbone, neck or dense head to compile")
    devices = {p.device.type for p in model.parameters()}
    missing = missing_toolchain() if "cpu" in devices else None
    if missing:
        raise RuntimeError(missing)
    for name in parts:
        part = getattr(model, name)
        part.forward = FrozenCompiled(part.forward, dynamic=dynamic)
    setattr(model, COMPILED_ATTR, CompileInfo(parts=parts, dynamic=dynamic))
    return model
