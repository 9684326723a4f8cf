"""Mutation testing of ``visdet/ops`` and ``visdet/models`` against the golden parity suite.

``make mutation`` (``python -m parity.mutation``) answers: of a seeded sample of small
code changes (mutants), how many does the parity suite catch? It runs without mmdet
(goldens only) and writes ``reports/mutation.md`` and ``reports/mutation.json``.

Mutants, one change each (in function bodies, default values and module constants):

* arithmetic: ``+ <-> -``, ``* <-> /``, ``// -> *``, ``% -> //``, ``** -> *``, ``& <-> |``
  (also in augmented assignments);
* comparisons: ``< -> <=``, ``<= -> <``, ``> -> >=``, ``>= -> >``, ``== <-> !=``,
  ``is <-> is not``, ``in <-> not in``;
* constants: a float times 1.1 (0.0 becomes 0.1), an int plus 1, ``True <-> False``;
* ``and <-> or``; a unary minus or ``not`` removed.

Not mutated: docstrings, annotations, f-strings, logging and warning calls, ``raise``
statements and validation guards (an ``if`` without ``else`` whose body ends in a
``raise``, condition included): those are error paths that ``tests/`` checks and that
cannot change a number the parity suite compares.

Why a small mutator of our own rather than ``mutmut`` or ``cosmic-ray`` (both on PyPI):
both start a fresh test process per mutant, and here that process spends its first
seconds importing torch; mutmut 3 runs the suite from a ``mutants/`` copy of the project
with trampolines in every function and collects its own per-test statistics by running
the whole suite first, and cosmic-ray writes each mutant into the source file on disk
and takes one test command per session (sharding per file means one session each).
This tool imports torch, pytest and numpy once, then ``fork()``s per mutant; the child
imports visdet through an import hook that serves the one mutated module from memory
(nothing is written into the work tree, so an interrupted run leaves no mutant behind)
and runs, in-process, only the parity tests that execute the mutated line (from a
coverage run with per-test contexts; a module-level line selects every test that
reaches its file), plus ``parity/test_defaults.py`` (defaults are module-level), plus, for
the visdet-only files in the targets (LoRA, inference fusion), their own unit tests. Each
child has a timeout (a hung mutant counts as caught, as in both tools).

After cases are added for survivors, ``make mutation-rerun`` (``--rerun-survivors
--map-new-tests``) runs only the survivors again; the line-to-test map then runs only the
tests it does not know yet under coverage and merges them in (valid when the existing
tests and visdet are unchanged; ``--refresh`` rebuilds it whole).

Score: caught / (sample - reviewed equivalent mutants), where the reviewed equivalents
are ``parity/mutation_equivalent.yaml`` (mutant id -> one-line reason).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("visdet/ops", "visdet/models")
REPORT_DIR = ROOT / "reports"
WORK_DIR = REPORT_DIR / "mutation"
EQUIVALENT = Path(__file__).resolve().parent / "mutation_equivalent.yaml"
ALWAYS = ("parity/test_defaults.py",)
# never selected: the same golden cases under imitated CPUs (subprocesses; redundant here)
NEVER = ("parity/test_portability.py",)
# visdet-only code in the targets (no mmdet counterpart, so no parity case can reach it): its own
# unit tests from tests/ join the selection, so its mutants are measured rather than excused
VISDET_ONLY_TESTS = {
    "visdet/models/layers/lora.py": ("tests/models/test_lora_layers.py",),
    "visdet/models/fuse.py": ("tests/models/test_fuse.py",),
}

_BINOPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}  # fmt: skip
_CMPOPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
    ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and",
    ast.Or: "or",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change at one place: ``file`` (relative), the ``index``-th mutation point of that file."""

    file: str
    index: int
    line: int
    col: int
    end_line: int
    end_col: int
    change: str  # e.g. "< -> <=", "0.5 -> 0.55"

    @property
    def id(self) -> str:
        """``file:line:col-endcol:change``, stable while the mutated expression is unchanged."""
        end = f"{self.end_col}" if self.end_line == self.line else f"{self.end_line}.{self.end_col}"
        return f"{self.file}:{self.line}:{self.col}-{end}:{self.change}"


def _guard_conditions(tree: ast.AST) -> set[int]:
    """ids of the nodes of error paths: a ``raise``, and an ``if`` (condition and body) whose body
    ends in a ``raise`` and that has no ``else`` (a validation guard)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Raise) and not node.orelse:
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _unmutable(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, f-strings, guard conditions."""
    skip = _guard_conditions(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        annotations = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        if isinstance(node, ast.JoinedStr):
            annotations.append(node)
        logging = ("warn", "debug", "info", "warning")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in logging:
            annotations.append(node)
        for ann in annotations:
            skip.update(id(n) for n in ast.walk(ann))
    return skip


def _changes(node: ast.AST) -> list[tuple[str, Any]]:
    """The mutations of one node: (description, how to apply) pairs."""
    out: list[tuple[str, Any]] = []
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BINOPS:
        new = _BINOPS[type(node.op)]
        out.append((f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}", ("op", new)))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMPOPS:
                new = _CMPOPS[type(op)]
                where = f" (comparison {i + 1})" if len(node.ops) > 1 else ""
                out.append((f"{_SYMBOL[type(op)]} -> {_SYMBOL[new]}{where}", ("cmp", i, new)))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}", ("op", new)))
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            out.append((f"{value} -> {not value}", ("const", not value)))
        elif isinstance(value, int):
            out.append((f"{value} -> {value + 1}", ("const", value + 1)))
        elif isinstance(value, float):
            new = value * 1.1 if value != 0 else 0.1
            out.append((f"{value!r} -> {new!r}", ("const", new)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(("-x -> x" if isinstance(node.op, ast.USub) else "not x -> x", ("unary",)))
    return out


def _points(tree: ast.AST) -> list[tuple[ast.AST, str, Any]]:
    """Every (node, description, how) mutation point of a module, in a stable order."""
    skip = _unmutable(tree)
    points = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        for desc, how in _changes(node):
            points.append((node, desc, how))
    return points


def enumerate_mutants(files: list[Path]) -> list[Mutant]:
    """Every mutant of ``files`` (paths under ROOT)."""
    out = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        for index, (node, desc, _) in enumerate(_points(tree)):
            out.append(Mutant(rel, index, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, desc))
    return out


class _Unary(ast.NodeTransformer):
    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return node.operand  # type: ignore[attr-defined]
        return super().visit(node)


def mutated_tree(mutant: Mutant) -> ast.Module:
    """The module's AST with the mutant's one change applied."""
    tree = ast.parse((ROOT / mutant.file).read_text(), filename=mutant.file)
    node, desc, how = _points(tree)[mutant.index]
    if desc != mutant.change or node.lineno != mutant.line:
        raise RuntimeError(f"{mutant.id}: the source changed since the mutants were listed")
    if how[0] == "op":
        node.op = how[1]()  # type: ignore[attr-defined]
    elif how[0] == "cmp":
        node.ops[how[1]] = how[2]()  # type: ignore[attr-defined]
    elif how[0] == "const":
        node.value = how[1]  # type: ignore[attr-defined]
    else:
        tree = _Unary(node).visit(tree)
    return ast.fix_missing_locations(tree)


def module_name(rel: str) -> str:
    """``visdet/ops/nms.py`` -> ``visdet.ops.nms`` (``__init__`` -> its package)."""
    name = rel.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


# ------------------------------------------------------------------ which tests reach which line
# files that cannot change which test reaches which line (this tool and its lists)
_NOT_IN_DIGEST = ("parity/mutation.py", "parity/mutation_equivalent.yaml", "parity/coverage_exempt.yaml",
                  "parity/coverage_gaps.py")  # fmt: skip


def _source_digest() -> str:
    digest = hashlib.sha256()
    for folder in ("visdet", "parity", "golden"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.relative_to(ROOT).as_posix() in _NOT_IN_DIGEST:
                continue
            if path.is_file() and path.suffix in (".py", ".yaml", ".json", ".safetensors"):
                digest.update(path.relative_to(ROOT).as_posix().encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_map(refresh: bool = False, new_tests_only: bool = False) -> dict[str, Any]:
    """``{"lines": {file: {line: [nodeid...]}}, "files": {file: [nodeid...]}, "seconds": {nodeid: s}}``.

    From one run of the parity suite (goldens only: the reference is hidden from it)
    under coverage with per-test contexts; cached in ``reports/mutation/`` and rebuilt
    when visdet, parity or golden change. With ``new_tests_only`` (after cases were
    added and nothing else changed) only the tests the cached map does not know are run
    and merged into it.
    """
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    cache = WORK_DIR / "test_map.json"
    digest = _source_digest()
    cached = json.loads(cache.read_text()) if cache.exists() and not refresh else None
    if cached is not None and cached.get("digest") == digest:
        return cached
    if cached is not None and new_tests_only:
        mapped = {t for per_line in cached["lines"].values() for tests in per_line.values() for t in tests}
        known = set(cached["seconds"]) | mapped
        new = [t for t in _collect() if t not in known]
        print(f"mapping {len(new)} new parity tests (the cached map keeps the others)...", flush=True)
        data = _merge_maps(cached, _coverage_map(new)) if new else cached
    else:
        print("mapping lines to parity tests (one coverage run of the parity suite)...", flush=True)
        data = _coverage_map(["parity/"])
    data["digest"] = digest
    cache.write_text(json.dumps(data))
    return data


def _collect() -> list[str]:
    """Node ids of the parity tests (the reference hidden, the never-selected files left out)."""
    cmd = [sys.executable, "-m", "pytest", "parity/", "--collect-only", "-q", "-p", "no:xdist",
           "-p", "no:cacheprovider", *[f"--ignore={t}" for t in NEVER]]  # fmt: skip
    env = {**os.environ, "VISDET_HIDE_REFERENCE": "1"}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if "::" in line]


def _merge_maps(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    lines = {f: {k: list(v) for k, v in per_line.items()} for f, per_line in old["lines"].items()}
    for f, per_line in new["lines"].items():
        into = lines.setdefault(f, {})
        for line, tests in per_line.items():
            into[line] = sorted(set(into.get(line, [])) | set(tests))
    files = {f: sorted({t for tests in per_line.values() for t in tests}) for f, per_line in lines.items()}
    return {"lines": lines, "files": files, "seconds": {**old["seconds"], **new["seconds"]},
            "failing_unmutated": sorted(set(old["failing_unmutated"]) | set(new["failing_unmutated"]))}  # fmt: skip


def _coverage_map(targets: list[str]) -> dict[str, Any]:
    """Run ``targets`` (paths or node ids) under coverage with per-test contexts: the map of what they reach."""
    data_file = WORK_DIR / "contexts.coverage"
    junit = WORK_DIR / "baseline.xml"
    data_file.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "pytest", *targets, "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
        *[f"--ignore={t}" for t in NEVER], *[f"--cov={t}" for t in TARGETS], "--cov-branch",
        "--cov-context=test", "--cov-report=", f"--junitxml={junit}",
    ]  # fmt: skip
    env = {**os.environ, "COVERAGE_FILE": str(data_file), "VISDET_HIDE_REFERENCE": "1"}
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    seconds, failing = _junit(junit)
    if proc.returncode not in (0, 1) or not seconds:
        raise SystemExit(f"the unmutated parity tests did not run (exit {proc.returncode})")
    print(f"  done in {time.time() - started:.0f} s; {len(failing)} tests fail unmutated and are left out",
          flush=True)  # fmt: skip
    import coverage

    cov = coverage.CoverageData(basename=str(data_file))
    cov.read()
    lines: dict[str, dict[str, list[str]]] = {}
    files: dict[str, list[str]] = {}
    for measured in cov.measured_files():
        rel = Path(measured).resolve().relative_to(ROOT).as_posix()
        by_line = cov.contexts_by_lineno(measured)
        per_line = {}
        everything: set[str] = set()
        for line, contexts in by_line.items():
            tests = sorted(t for t in {c.rsplit("|", 1)[0] for c in contexts if c} - set(failing)
                           if not t.startswith(NEVER))  # fmt: skip
            if tests:
                per_line[str(line)] = tests
                everything.update(tests)
        lines[rel] = per_line
        files[rel] = sorted(everything)
    return {"lines": lines, "files": files, "seconds": seconds, "failing_unmutated": failing}


def _junit(path: Path) -> tuple[dict[str, float], list[str]]:
    """Seconds per test node id, and the tests that failed, from pytest's JUnit XML."""
    import xml.etree.ElementTree as ET

    seconds, failing = {}, []
    if not path.exists():
        return seconds, failing
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        nodeid = f"{module}::{case.get('name')}"
        seconds[nodeid] = float(case.get("time", 0) or 0)
        if case.find("failure") is not None or case.find("error") is not None:
            failing.append(nodeid)
    return seconds, sorted(failing)


@functools.cache
def _body_lines(rel: str) -> frozenset[int]:
    """Lines of ``rel`` inside function bodies (what runs when called, not at import)."""
    tree = ast.parse((ROOT / rel).read_text())
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            body = node.body if isinstance(node.body, list) else [node.body]
            for stmt in body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return frozenset(lines)


def select_tests(mutant: Mutant, tmap: dict[str, Any]) -> list[str]:
    """The parity tests that run the mutant's line (every test of its file for a module-level line).

    Fastest first (by the mapping run's times): the child stops at the first failure, so a
    mutant that a quick test catches costs seconds, not the whole selection.
    """
    line_tests = tmap["lines"].get(mutant.file, {}).get(str(mutant.line))
    if mutant.line not in _body_lines(mutant.file):
        # runs at import (a default value, a module or class constant): coverage credits it
        # to whichever test imported the module first, so every test of the file is selected
        line_tests = None
    tests = [*(line_tests if line_tests else tmap["files"].get(mutant.file, [])),
             *VISDET_ONLY_TESTS.get(mutant.file, ())]  # fmt: skip
    if not tests:
        return list(ALWAYS)
    return sorted(set(tests) | set(ALWAYS), key=lambda t: (tmap["seconds"].get(t, 1.0), t))


# ------------------------------------------------------------------ running one mutant
class _MutantFinder:
    """A meta-path finder that serves one module's mutated code from memory."""

    def __init__(self, name: str, path: Path, code: Any) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(self, fullname: str, target: Any = None, path: Any = None) -> Any:
        import importlib.util

        if fullname != self.name:
            return None
        loader = _MutantLoader(self.code, str(self.path))
        is_pkg = self.path.name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=loader,
            submodule_search_locations=[str(self.path.parent)] if is_pkg else None,
        )  # fmt: skip


class _MutantLoader:
    def __init__(self, code: Any, origin: str) -> None:
        self.code, self.origin = code, origin

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        exec(self.code, module.__dict__)


def _child(mutant: Mutant, tests: list[str], log: Path) -> None:
    """In the forked child: install the mutant, run the selected tests, exit with pytest's code."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        code = compile(mutated_tree(mutant), str(ROOT / mutant.file), "exec")
        sys.meta_path.insert(0, _MutantFinder(module_name(mutant.file), ROOT / mutant.file, code))
        import pytest

        import parity.plugin

        parity.plugin.REPORT_DIR = WORK_DIR / "child-report"  # keep reports/parity.* untouched
        rc = pytest.main(["-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", "--no-header", "-o",
                          "addopts=--import-mode=importlib", *tests])  # fmt: skip
        os._exit(int(rc))
    except BaseException:  # noqa: BLE001  (a child never returns into the parent's loop)
        import traceback

        traceback.print_exc()
        os._exit(70)


def run_mutant(mutant: Mutant, tests: list[str], timeout: float, log: Path) -> tuple[str, float]:
    """``("killed" | "survived" | "timeout" | "error", seconds)`` for one mutant."""
    started = time.time()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(mutant, tests, log)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() - started > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.time() - started
        time.sleep(0.05)
    seconds = time.time() - started
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return "survived", seconds
    if code in (1, 2):  # tests failed, or collection failed (the mutant broke an import)
        return "killed", seconds
    return "error", seconds


# ------------------------------------------------------------------ the run
def target_files() -> list[Path]:
    """Every Python file of visdet/ops and visdet/models."""
    return sorted(p for t in TARGETS for p in (ROOT / t).rglob("*.py"))


def load_equivalent() -> dict[str, str]:
    """Reviewed equivalent mutants: id -> reason (each with a non-empty reason)."""
    import yaml

    if not EQUIVALENT.exists():
        return {}
    data = yaml.safe_load(EQUIVALENT.read_text()) or {}
    bad = [k for k, v in data.items() if not str(v or "").strip()]
    if bad:
        raise SystemExit(f"{EQUIVALENT.name}: entries without a reason: {bad}")
    return {str(k): str(v) for k, v in data.items()}


def sample(mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """A seeded sample (all of them when ``size`` >= their number), in file order."""
    chosen = mutants if size >= len(mutants) else random.Random(seed).sample(mutants, size)
    return sorted(chosen, key=lambda m: (m.file, m.index))


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m parity.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=240, help="mutants to run (seeded sample; default 240)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant beyond 4x its tests' time")
    parser.add_argument("--only", nargs="*", default=None, help="mutant ids to run (ignores --sample)")
    parser.add_argument("--refresh", action="store_true", help="rebuild the line-to-test map")
    parser.add_argument("--map-new-tests", action="store_true",
                        help="after adding cases (nothing else changed): map only the new tests into the cached map")
    parser.add_argument("--from-log", type=Path, help="write the reports from the printed lines of an interrupted run")
    parser.add_argument("--list", action="store_true", help="print the number of mutants per file and exit")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="run the survivors of reports/mutation.json again (after adding cases) and update it")
    args = parser.parse_args(argv)

    os.environ["VISDET_HIDE_REFERENCE"] = "1"  # goldens only, also inside the reference environment
    mutants = enumerate_mutants(target_files())
    if args.list:
        counts: dict[str, int] = {}
        for m in mutants:
            counts[m.file] = counts.get(m.file, 0) + 1
        for f, n in sorted(counts.items()):
            print(f"{n:5d}  {f}")
        print(f"{len(mutants)} mutants in {len(counts)} files")
        return 0
    equivalent = load_equivalent()
    if args.from_log is not None:
        return _reports_from_log(args, mutants, equivalent)
    previous: list[dict[str, Any]] = []
    previous_wall = 0.0
    if args.rerun_survivors:
        data = json.loads((REPORT_DIR / "mutation.json").read_text())
        previous, previous_wall = data["rows"], float(data["summary"]["wall_seconds"])
        args.seed = data["summary"]["seed"]
        survivors = [r["id"] for r in previous if r["status"] == "survived" and r["id"] not in equivalent]
        args.only = [i for i in args.only if i in survivors] if args.only else survivors
    chosen = [m for m in mutants if m.id in set(args.only)] if args.only else sample(mutants, args.sample, args.seed)
    if args.only and len(chosen) != len(set(args.only)):
        missing = sorted(set(args.only) - {m.id for m in chosen})
        raise SystemExit(f"mutants not found (the source changed?): {missing[:5]}")
    tmap = test_map(args.refresh, new_tests_only=args.map_new_tests)
    # heavy imports once, before forking (visdet itself is imported fresh by each child)
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch  # noqa: F401

    rows = []
    started = time.time()
    logs = WORK_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for n, mutant in enumerate(chosen, 1):
        tests = select_tests(mutant, tmap)
        reached = tests != list(ALWAYS) or mutant.file in tmap["files"]
        budget = args.timeout + 4 * sum(tmap["seconds"].get(t, 1.0) for t in tests)
        log = logs / f"{n:04d}.log"
        status, seconds = run_mutant(mutant, tests, budget, log)
        if status == "survived":
            log.rename(logs / f"{n:04d}.survived.log")
        else:
            log.unlink(missing_ok=True)
        rows.append({**dataclasses.asdict(mutant), "id": mutant.id, "status": status, "seconds": round(seconds, 2),
                     "tests": len(tests), "reached": reached, "equivalent": equivalent.get(mutant.id)})  # fmt: skip
        print(f"[{n}/{len(chosen)}] {status:8s} {seconds:6.1f}s  {mutant.id}", flush=True)
        if n % 10 == 0 and n < len(chosen):  # an interrupted run still leaves its figures so far
            write_reports(_merged(rows, previous, equivalent), mutants, args,
                          time.time() - started + previous_wall, equivalent, quiet=True)  # fmt: skip
    wall = time.time() - started + previous_wall
    write_reports(_merged(rows, previous, equivalent), mutants, args, wall, equivalent)
    return 0


def _reports_from_log(args: Any, mutants: list[Mutant], equivalent: dict[str, str]) -> int:
    """Rows from ``[n/N] status seconds id`` lines (an interrupted run); writes the reports."""
    import re

    by_id = {m.id: m for m in mutants}
    rows, wall = [], 0.0
    for line in args.from_log.read_text().splitlines():
        match = re.match(r"\[(\d+)/(\d+)\] (\w+)\s+([\d.]+)s  (.+)$", line)
        if not match or match[5] not in by_id:
            continue
        mutant, seconds = by_id[match[5]], float(match[4])
        wall += seconds
        rows.append({**dataclasses.asdict(mutant), "id": mutant.id, "status": match[3], "seconds": seconds,
                     "tests": None, "reached": None, "equivalent": equivalent.get(mutant.id)})  # fmt: skip
    write_reports(rows, mutants, args, wall, equivalent)
    return 0


def _merged(
    rows: list[dict[str, Any]], previous: list[dict[str, Any]], equivalent: dict[str, str]
) -> list[dict[str, Any]]:
    """With a rerun: the earlier rows, each replaced by its new one where it ran again."""
    if not previous:
        return rows
    again = {r["id"]: r for r in rows}
    return [again.get(r["id"], {**r, "equivalent": equivalent.get(r["id"])}) for r in previous]


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and the score on non-equivalent mutants."""
    caught = sum(r["status"] in ("killed", "timeout") for r in rows)
    equivalent = [r for r in rows if r["status"] == "survived" and r["equivalent"]]
    survived = [r for r in rows if r["status"] == "survived" and not r["equivalent"]]
    errors = [r for r in rows if r["status"] == "error"]
    denominator = len(rows) - len(equivalent) - len(errors)
    return {
        "sampled": len(rows), "caught": caught, "survived": len(survived), "equivalent": len(equivalent),
        "errors": len(errors), "score_percent": round(100.0 * caught / denominator, 1) if denominator else None,
    }  # fmt: skip


def write_reports(rows: list[dict[str, Any]], mutants: list[Mutant], args: Any, wall: float,
                  equivalent: dict[str, str], quiet: bool = False) -> None:  # fmt: skip
    """``reports/mutation.json`` and ``reports/mutation.md``."""
    summary = score(rows)
    summary.update({"population": len(mutants), "seed": args.seed, "wall_seconds": round(wall, 1),
                    "seconds_per_mutant": round(wall / max(len(rows), 1), 2)})  # fmt: skip
    stale = sorted(set(equivalent) - {m.id for m in mutants})
    data = {"summary": summary, "stale_equivalent_ids": stale, "rows": rows}
    REPORT_DIR.mkdir(exist_ok=True)
    (REPORT_DIR / "mutation.json").write_text(json.dumps(data, indent=1) + "\n")
    s = summary
    lines = [
        "# Mutation testing: visdet/ops and visdet/models against the golden parity suite",
        "",
        f"{s['sampled']} of {s['population']} mutants (seed {s['seed']}): {s['caught']} caught, "
        f"{s['survived']} survived, {s['equivalent']} reviewed equivalent, {s['errors']} errors. "
        f"**Score {s['score_percent']}%** on non-equivalent mutants. "
        f"{s['wall_seconds']:.0f} s in all, {s['seconds_per_mutant']:.1f} s per mutant.",
        "",
        "## Survivors",
        "",
        "| mutant | tests run | reached by a parity test |",
        "|---|---|---|",
    ]
    def reached(r: dict[str, Any]) -> str:  # unknown ("-") for rows read back from a log
        return "-" if r["reached"] is None else ("yes" if r["reached"] else "no")

    lines += [f"| `{r['id']}` | {'-' if r['tests'] is None else r['tests']} | {reached(r)} |"
              for r in rows if r["status"] == "survived" and not r["equivalent"]]  # fmt: skip
    lines += ["", "## Equivalent survivors (reviewed, `parity/mutation_equivalent.yaml`)", ""]
    lines += [f"- `{r['id']}`: {r['equivalent']}" for r in rows if r["status"] == "survived" and r["equivalent"]]
    if any(r["status"] == "error" for r in rows):
        lines += ["", "## Errors (the child did not run the tests)", ""]
        lines += [f"- `{r['id']}`" for r in rows if r["status"] == "error"]
    if stale:
        lines += ["", "## Listed equivalents that no longer exist", ""] + [f"- `{i}`" for i in stale]
    (REPORT_DIR / "mutation.md").write_text("\n".join(lines) + "\n")
    if not quiet:
        print("\n".join(lines[:3]))


if __name__ == "__main__":
    sys.exit(main())
