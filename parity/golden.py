"""Golden tensors: written by the reference (mmdet/mmcv), verified and read by visdet's tests.

Usage::

    python -m parity.golden generate [--only PREFIX_OR_GLOB ...] [--out DIR]  # reference only
    python -m parity.golden verify                                  # any environment
    python -m parity.golden check [--json PATH] [--threads N]       # visdet against every golden
    python -m parity.golden rederive DIR                            # DIR's goldens vs the committed ones
    python -m parity.golden list

Besides the case files, the reference writes *data goldens* (:data:`DATA_GOLDENS`): JSON
records that are not tensors, such as the signatures of :mod:`parity.defaults`
(``generate --only defaults``). They are listed in MANIFEST.json with their sha256 and
``"kind": "data"``, and ``verify`` checks them like the others.

A golden file ``golden/<component>/<case>.safetensors`` holds the case's inputs under
``in.<name>`` and the reference's results under ``ref.<name>`` (``ref.state.*`` are the
module weights that visdet loads). ``golden/MANIFEST.json`` records, per file, its
sha256, the case definition, the seed, the library versions and the date written.
``verify`` fails on a file that changed, is missing, is not listed, or whose case
definition no longer equals the registered case (a case cannot drift from its golden).
Each manifest entry also records how the file was written: the reference versions, the
case's dtype, the torch thread count, torch's CPU capability and the CPU model. Results
do not depend on those (see :mod:`parity.precision`); the record says what happened.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from parity.cases import Case, load_all, select
from parity.cases.base import split_state
from parity.compare import CaseResult, compare_outputs

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "golden"
MANIFEST = GOLDEN_DIR / "MANIFEST.json"
MANIFEST_FORMAT = 2
INPUT_PREFIX = "in."
REF_PREFIX = "ref."


# data golden (relative path) -> the module that writes it: ``reference_record()`` gives its
# content in the reference environment, ``golden_bytes(record)`` its bytes.
DATA_GOLDENS: dict[str, str] = {"defaults/signatures.json": "parity.defaults"}


class GoldenError(Exception):
    """A golden file is missing, changed, unlisted, stale, or cannot be read."""


@dataclass
class Golden:
    """The tensors of one golden file, split into inputs and reference results."""

    inputs: dict[str, torch.Tensor]
    reference: dict[str, torch.Tensor]


# ----------------------------------------------------------------------- manifest
def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(golden_dir: Path = GOLDEN_DIR) -> dict:
    """The manifest as a dict (an empty one when the file does not exist yet)."""
    path = golden_dir / "MANIFEST.json"
    if not path.exists():
        return {"format": MANIFEST_FORMAT, "files": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise GoldenError(f"{path}: not valid JSON ({err})") from err
    if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        raise GoldenError(f"{path}: expected format {MANIFEST_FORMAT} with a 'files' table")
    return data


@contextlib.contextmanager
def _locked_manifest(golden_dir: Path) -> Iterator[dict]:
    golden_dir.mkdir(parents=True, exist_ok=True)
    with (golden_dir / ".manifest.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_manifest(golden_dir)
        yield data
        data["files"] = dict(sorted(data["files"].items()))
        tmp = golden_dir / "MANIFEST.json.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
        tmp.replace(golden_dir / "MANIFEST.json")


def verify_file(case: Case, golden_dir: Path = GOLDEN_DIR, manifest: dict | None = None) -> Path:
    """Check one case's golden against the manifest; return its path or raise GoldenError."""
    manifest = read_manifest(golden_dir) if manifest is None else manifest
    rel = case.golden_relpath
    path = golden_dir / rel
    entry = manifest["files"].get(rel)
    if entry is None:
        raise GoldenError(
            f"golden/{rel}: no MANIFEST.json entry for case {case.key}; "
            f"generate it with the reference: python -m parity.golden generate --only {case.key}"
        )
    if not path.exists():
        raise GoldenError(f"golden/{rel}: listed in MANIFEST.json but the file is missing")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise GoldenError(
            f"golden/{rel}: sha256 {actual[:16]}... does not match MANIFEST.json "
            f"({entry['sha256'][:16]}...): the file was changed after the reference wrote it"
        )
    if entry.get("case") != case.definition():
        raise GoldenError(
            f"golden/{rel}: the case definition changed since the golden was written "
            f"(manifest {entry.get('case')} != registered {case.definition()}); regenerate it"
        )
    return path


def verify_data_golden(rel: str, golden_dir: Path = GOLDEN_DIR, manifest: dict | None = None) -> Path:
    """Check one data golden (see :data:`DATA_GOLDENS`) against the manifest; return its path."""
    manifest = read_manifest(golden_dir) if manifest is None else manifest
    entry = manifest["files"].get(rel)
    module = DATA_GOLDENS.get(rel, "?")
    if entry is None:
        raise GoldenError(
            f"golden/{rel}: no MANIFEST.json entry; generate it with the reference: "
            f"python -m parity.golden generate --only {rel.split('/')[0]}"
        )
    path = golden_dir / rel
    if not path.exists():
        raise GoldenError(f"golden/{rel}: listed in MANIFEST.json but the file is missing")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise GoldenError(
            f"golden/{rel}: sha256 {actual[:16]}... does not match MANIFEST.json "
            f"({entry['sha256'][:16]}...): the file was changed after the reference wrote it"
        )
    if entry.get("kind") != "data" or entry.get("writer") != module:
        raise GoldenError(f"golden/{rel}: the MANIFEST.json entry is not a data golden written by {module}")
    return path


def verify_all(golden_dir: Path = GOLDEN_DIR) -> list[str]:
    """Every problem with the golden folder, one line each (empty when all is well)."""
    problems: list[str] = []
    try:
        manifest = read_manifest(golden_dir)
    except GoldenError as err:
        return [str(err)]
    cases = load_all()
    by_rel = {case.golden_relpath: case for case in cases.values()}
    for case in cases.values():
        try:
            verify_file(case, golden_dir, manifest)
        except GoldenError as err:
            problems.append(str(err))
    for rel in DATA_GOLDENS:
        try:
            verify_data_golden(rel, golden_dir, manifest)
        except GoldenError as err:
            problems.append(str(err))
    on_disk = {p.relative_to(golden_dir).as_posix() for p in golden_dir.rglob("*.safetensors")}
    on_disk |= {p.relative_to(golden_dir).as_posix() for p in golden_dir.rglob("*.json")} - {"MANIFEST.json"}
    for rel in sorted(on_disk - set(manifest["files"])):
        problems.append(f"golden/{rel}: file is not listed in MANIFEST.json")
    for rel in sorted(set(manifest["files"]) - set(by_rel) - set(DATA_GOLDENS)):
        problems.append(f"golden/{rel}: listed in MANIFEST.json but no registered case writes it")
    return problems


def load_golden(case: Case, golden_dir: Path = GOLDEN_DIR, manifest: dict | None = None) -> Golden:
    """Verify and read a case's golden file (safetensors, never pickle).

    ``manifest`` is the already-read MANIFEST.json (read from ``golden_dir`` when None).
    """
    from safetensors.torch import load_file

    path = verify_file(case, golden_dir, manifest)
    tensors = load_file(str(path))
    inputs = {k[len(INPUT_PREFIX):]: v for k, v in tensors.items() if k.startswith(INPUT_PREFIX)}
    reference = {k[len(REF_PREFIX):]: v for k, v in tensors.items() if k.startswith(REF_PREFIX)}
    return Golden(inputs=inputs, reference=reference)


# --------------------------------------------------------------------- generation
def reference_versions() -> dict[str, str]:
    """Versions of the reference libraries (ImportError when they are not installed)."""
    import mmcv
    import mmdet
    import mmengine

    return {
        "mmdet": mmdet.__version__,
        "mmcv": mmcv.__version__,
        "mmengine": mmengine.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def machine_record() -> dict[str, object]:
    """How this process computes: torch threads, CPU capability, kernel switches, CPU model."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "env": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in os.environ},
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),  # parity/__init__.py pins it
        "cpu": cpu,
    }


def _plain(tensors: dict[str, torch.Tensor], prefix: str, case: Case, what: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"case {case.key}: {what} {name!r} is {type(value).__name__}, not a tensor")
        out[prefix + name] = value.detach().cpu().contiguous().clone()
    return out


def generate(cases: list[Case], golden_dir: Path = GOLDEN_DIR, inputs_from: Path | None = None) -> list[Path]:
    """Run each case on the reference and write its golden file and manifest entry.

    Inputs are drawn from each case's seed, or with ``inputs_from`` read from that golden
    folder: torch's CPU random sampling is itself CPU-dependent (``torch.randn`` fills
    16 or more values with a vectorised Box-Muller whose last bits differ between AVX2
    and plain code), so re-deriving goldens on another machine must start from the
    stored inputs to compare the reference's results alone.
    """
    from safetensors.torch import save_file

    versions = reference_versions()
    machine = machine_record()
    stored = read_manifest(inputs_from) if inputs_from is not None else None
    written = []
    for case in cases:
        inputs = case.inputs() if inputs_from is None else load_golden(case, inputs_from, stored).inputs
        reference = case.run_reference(case.params, inputs)
        tensors = _plain(inputs, INPUT_PREFIX, case, "input") | _plain(reference, REF_PREFIX, case, "output")
        path = golden_dir / case.golden_relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"case": case.key, "writer": "reference", "dtype": case.dtype, **versions}
        save_file(tensors, str(path), metadata=metadata)
        path.chmod(0o644)  # safetensors writes 0600; goldens are shared, read-only data
        size = path.stat().st_size
        with _locked_manifest(golden_dir) as manifest:
            manifest["files"][case.golden_relpath] = {
                "sha256": sha256_of(path),
                "bytes": size,
                "case": case.definition(),
                "seed": case.seed,
                "dtype": case.dtype,
                "versions": versions,
                "machine": machine,
                "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        print(f"wrote {path} ({size / 1024:.1f} KiB)")
        written.append(path)
    return written


def generate_data(relpaths: list[str], golden_dir: Path = GOLDEN_DIR) -> list[Path]:
    """Write the data goldens ``relpaths`` (see :data:`DATA_GOLDENS`) and their manifest entries."""
    import importlib

    versions = reference_versions()
    machine = machine_record()
    written = []
    for rel in relpaths:
        module = importlib.import_module(DATA_GOLDENS[rel])
        data = module.golden_bytes(module.reference_record())
        path = golden_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
        with _locked_manifest(golden_dir) as manifest:
            manifest["files"][rel] = {
                "sha256": sha256_of(path),
                "bytes": len(data),
                "kind": "data",
                "writer": DATA_GOLDENS[rel],
                "versions": versions,
                "machine": machine,
                "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        print(f"wrote {path} ({len(data) / 1024:.1f} KiB)")
        written.append(path)
    return written


def select_data(patterns: list[str] | None) -> list[str]:
    """Data goldens whose path (without the suffix) starts with, or fnmatches, any of ``patterns``."""
    from fnmatch import fnmatch

    if not patterns:
        return sorted(DATA_GOLDENS)
    return sorted(
        rel for rel in DATA_GOLDENS
        if any(rel.startswith(p) or fnmatch(rel, p) or fnmatch(rel.rsplit(".", 1)[0], p) for p in patterns)
    )  # fmt: skip


def run_against_golden(case: Case, golden_dir: Path = GOLDEN_DIR, manifest: dict | None = None) -> CaseResult:
    """visdet on a golden's stored inputs (and weights), compared with the stored reference."""
    golden = load_golden(case, golden_dir, manifest)
    state, reference = split_state(golden.reference)
    got = case.run_visdet(case.params, {**golden.inputs, **state})
    return compare_outputs(case.key, got, reference, case.exact, case.empty_ok)


def rederive(scratch: Path, golden_dir: Path = GOLDEN_DIR) -> list[str]:
    """Problems between goldens the reference wrote anew in ``scratch`` and the committed ones.

    Inputs must be identical (generate them with ``--inputs-from golden``: seeded draws
    differ between CPUs); reference outputs must agree within the parity tolerances, and
    exact outputs exactly.
    """
    from safetensors.torch import load_file

    problems: list[str] = []
    committed = read_manifest(golden_dir)["files"]
    fresh = read_manifest(scratch)["files"]
    for rel in sorted(set(committed) | set(fresh)):
        if rel not in fresh or rel not in committed:
            problems.append(f"golden/{rel}: only in {'the committed goldens' if rel in committed else scratch}")
            continue
        if rel in DATA_GOLDENS:  # a record, not tensors: the reference must write the same content
            if json.loads((golden_dir / rel).read_text()) != json.loads((scratch / rel).read_text()):
                problems.append(f"golden/{rel}: the reference now writes another record")
            continue
        old, new = load_file(str(golden_dir / rel)), load_file(str(scratch / rel))
        case = fresh[rel]["case"]
        ins_old = {k: v for k, v in old.items() if k.startswith(INPUT_PREFIX)}
        ins_new = {k: v for k, v in new.items() if k.startswith(INPUT_PREFIX)}
        if ins_old.keys() != ins_new.keys() or any(not torch.equal(ins_old[k], ins_new[k]) for k in ins_old):
            problems.append(f"golden/{rel}: the regenerated inputs differ from the committed ones")
            continue
        strip = len(REF_PREFIX)
        ref_old = {k[strip:]: v for k, v in old.items() if k.startswith(REF_PREFIX)}
        ref_new = {k[strip:]: v for k, v in new.items() if k.startswith(REF_PREFIX)}
        key = f"{case['component']}/{case['name']}"
        result = compare_outputs(key, ref_new, ref_old, tuple(case["exact"]), case.get("empty_ok", ""))
        if not result.ok:
            problems.append(f"golden/{rel}: the reference now writes other results:\n{result.failure_text()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: generate, verify or list goldens."""
    parser = argparse.ArgumentParser(prog="python -m parity.golden", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write goldens with mmdet/mmcv (reference environment only)")
    gen.add_argument("--only", nargs="+", metavar="NAME", help="case key prefixes or globs")
    gen.add_argument("--out", type=Path, default=GOLDEN_DIR, help="golden folder to write (default: golden/)")
    gen.add_argument("--inputs-from", type=Path, help="take each case's inputs from this golden folder")
    sub.add_parser("verify", help="check every golden against MANIFEST.json and the registered cases")
    chk = sub.add_parser("check", help="run visdet on every golden case (no pytest) and compare")
    chk.add_argument("--only", nargs="+", metavar="NAME", help="case key prefixes or globs")
    chk.add_argument("--json", type=Path, help="write per-case results here")
    chk.add_argument("--threads", type=int, help="torch.set_num_threads before running")
    chk.add_argument("--golden", type=Path, default=GOLDEN_DIR, help="golden folder (default: golden/)")
    red = sub.add_parser("rederive", help="compare goldens regenerated into DIR with the committed ones")
    red.add_argument("scratch", type=Path)
    sub.add_parser("list", help="list the registered cases")
    args = parser.parse_args(argv)

    if args.command == "generate":
        try:
            reference_versions()
        except ImportError as err:
            print(
                f"generate needs the reference environment (mmdet/mmcv/mmengine): {err}. "
                "Build it with `make reference` and run `.venv-ref/bin/python -m parity.golden generate`.",
                file=sys.stderr,
            )
            return 2
        data = select_data(args.only)
        case_patterns = args.only
        if args.only and data:  # patterns that name only data goldens select no case
            load_all()
            case_patterns = [p for p in args.only if not any(rel.startswith(p) for rel in data)]
        if case_patterns or not args.only:
            generate(select(case_patterns), args.out, args.inputs_from)
        if data:  # they have no inputs: written anew with --inputs-from too
            generate_data(data, args.out)
        return 0
    if args.command == "check":
        from parity.check import check_all

        cases = select(args.only)
        if args.golden != GOLDEN_DIR:  # a scratch folder holds only some cases
            listed = read_manifest(args.golden)["files"]
            cases = [c for c in cases if c.golden_relpath in listed]
        return check_all(cases, json_path=args.json, threads=args.threads, golden_dir=args.golden)
    if args.command == "rederive":
        problems = rederive(args.scratch)
        for line in problems:
            print(f"FAIL {line}", file=sys.stderr)
        if problems:
            return 1
        print(f"every golden in {args.scratch} agrees with golden/ within the parity tolerances")
        return 0
    if args.command == "verify":
        problems = verify_all()
        for line in problems:
            print(f"FAIL {line}", file=sys.stderr)
        count = len(read_manifest()["files"])
        if problems:
            print(f"{len(problems)} problem(s) with {count} golden file(s)", file=sys.stderr)
            return 1
        print(f"all {count} golden files match MANIFEST.json and their registered cases")
        return 0
    for key, case in sorted(load_all().items()):
        print(f"{key}  seed={case.seed}  params={json.dumps(dict(case.params))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
