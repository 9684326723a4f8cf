"""Check visdet's layering: ops -> structures -> models/data -> config/build -> engine -> apis -> cli.

Two checks, both run by ``python -m visdet.testing.layer_check`` (and the test suite):

* **static**: every ``import`` of a visdet module, at module level or inside a function,
  goes to the same or a lower layer, and the import graph between modules has no cycle;
* **fresh processes**: each module is imported in a process of its own (forked from a
  parent that has loaded the third-party libraries; the child forgets every visdet
  module first), and must not bring in a module of a higher layer.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# layer -> module prefixes (the longest matching prefix decides)
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ops", ("visdet.ops",)),
    ("structures", ("visdet.structures",)),
    (
        "models/data",
        ("visdet.models", "visdet.data", "visdet.evaluation", "visdet.checkpoint", "visdet.download", "visdet.presets"),
    ),
    ("config/build", ("visdet.config", "visdet.build")),
    ("engine", ("visdet.engine",)),
    ("apis", ("visdet.apis", "visdet.benchmark", "visdet.testing", "visdet.export")),
    ("cli", ("visdet.cli", "visdet.commands", "visdet")),
)
# what the parent loads before forking (so children time only visdet's own imports)
THIRD_PARTY = ("torch", "numpy", "cv2", "pydantic", "yaml", "pycocotools.coco", "pycocotools.cocoeval")


@dataclass(frozen=True)
class Violation:
    """One layering problem, as a line of text."""

    message: str


def layer_of(module: str) -> int:
    """The layer index of ``module`` (by the longest matching prefix of :data:`LAYERS`)."""
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank < 0:
        raise ValueError(f"{module} is in no layer")
    return rank


def layer_name(module: str) -> str:
    """The name of the layer of ``module``."""
    return LAYERS[layer_of(module)][0]


def package_root() -> Path:
    """The folder of the visdet package (found without importing it)."""
    spec = importlib.util.find_spec("visdet")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("visdet is not importable")
    return Path(next(iter(spec.submodule_search_locations)))


def all_modules(root: Path | None = None) -> dict[str, Path]:
    """Every visdet module name -> its file."""
    root = root or package_root()
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(path: Path, modules: Iterable[str]) -> list[tuple[str, int]]:
    """``(visdet module, line)`` of every import statement in ``path`` (at any depth)."""
    known = set(modules)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]  # fmt: skip
        else:
            continue
        found += [(name, node.lineno) for name in names if name == "visdet" or name.startswith("visdet.")]
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def static_violations(modules: dict[str, Path] | None = None) -> list[Violation]:
    """Upward imports and import cycles, read from the source."""
    modules = modules or all_modules()
    graph: dict[str, set[str]] = {}
    problems = []
    for module, path in modules.items():
        for target, line in imports_of(path, modules):
            graph.setdefault(module, set()).add(target)
            if target in modules and layer_of(target) > layer_of(module):
                problems.append(Violation(
                    f"{path}:{line}: {module} ({layer_name(module)}) imports {target} ({layer_name(target)})"
                ))  # fmt: skip
    for cycle in _cycles({m: {t for t in targets if t in modules} for m, targets in graph.items()}):
        problems.append(Violation(f"import cycle: {' <-> '.join(cycle)}"))
    return problems


def _loaded_in_fresh_process(module: str) -> list[str]:
    """The visdet modules that importing ``module`` loads, in a forked child process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: forget visdet, import, report, leave without the parent's cleanup
        os.close(read)
        for name in [name for name in sys.modules if name.split(".")[0] == "visdet"]:
            del sys.modules[name]
        try:
            importlib.import_module(module)
            report = "\n".join(sorted(name for name in sys.modules if name.split(".")[0] == "visdet"))
        except BaseException as err:  # noqa: BLE001 - reported to the parent as text
            report = f"!{type(err).__name__}: {err}"
        with os.fdopen(write, "w") as out:
            out.write(report)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        report = inp.read()
    os.waitpid(pid, 0)
    if report.startswith("!"):
        raise ImportError(f"importing {module} failed: {report[1:]}")
    return report.splitlines()


def fresh_process_violations(modules: Sequence[str] | None = None) -> list[Violation]:
    """Modules whose import, in a fresh process, loads a module of a higher layer."""
    for name in THIRD_PARTY:
        importlib.import_module(name)
    problems = []
    for module in modules or sorted(all_modules()):
        if module.startswith("visdet.testing.layer_check"):
            continue
        rank = layer_of(module)
        # the root package is every module's parent; its names load lazily, so it is skipped
        higher = [name for name in _loaded_in_fresh_process(module) if name != "visdet" and layer_of(name) > rank]
        if higher:
            problems.append(Violation(f"importing {module} ({layer_name(module)}) loads {', '.join(higher[:5])}"
                                      f"{' ...' if len(higher) > 5 else ''} ({layer_name(higher[0])})"))  # fmt: skip
    return problems


def main() -> int:
    """Run both checks; print the problems; exit 1 if there are any."""
    problems = static_violations() + fresh_process_violations()
    for problem in problems:
        print(problem.message)
    print(f"layer check: {len(all_modules())} modules, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
