"""Golden tensors: written by the reference (mmdet/mmcv), verified and read by visdet's tests.

Usage::

    python -m parity.golden generate [--only PREFIX_OR_GLOB ...]   # reference environment only
    python -m parity.golden verify                                  # any environment
    python -m parity.golden list

A golden file ``golden/<component>/<case>.safetensors`` holds the case's inputs under
``in.<name>`` and the reference's results under ``ref.<name>`` (``ref.state.*`` are the
module weights that visdet loads). ``golden/MANIFEST.json`` records, per file, its
sha256, the case definition, the seed, the library versions and the date written.
``verify`` fails on a file that changed, is missing, is not listed, or whose case
definition no longer equals the registered case (a case cannot drift from its golden).
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

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "golden"
MANIFEST = GOLDEN_DIR / "MANIFEST.json"
MANIFEST_FORMAT = 1
# Goldens are written, and compared, with this many torch threads: torch's CPU kernels
# split reductions (convolution weight gradients above all) by thread, so the last bits
# of a result depend on the thread count. Fixing it on both sides keeps the comparison
# about visdet against mmdet, not about how many cores the machine has.
GOLDEN_THREADS = 2
INPUT_PREFIX = "in."
REF_PREFIX = "ref."


class GoldenError(Exception):
    """A golden file is missing, changed, unlisted, stale, or cannot be read."""


@dataclass
class Golden:
    """The tensors of one golden file, split into inputs and reference results."""

    inputs: dict[str, torch.Tensor]
    reference: dict[str, torch.Tensor]


# ----------------------------------------------------------------------- manifest
@contextlib.contextmanager
def golden_threads(count: int = GOLDEN_THREADS) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(count)``, restoring the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    on_disk = {p.relative_to(golden_dir).as_posix() for p in golden_dir.rglob("*.safetensors")}
    for rel in sorted(on_disk - set(manifest["files"])):
        problems.append(f"golden/{rel}: file is not listed in MANIFEST.json")
    for rel in sorted(set(manifest["files"]) - set(by_rel)):
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


def _plain(tensors: dict[str, torch.Tensor], prefix: str, case: Case, what: str) -> dict[str, torch.Tensor]:
    out = {}
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"case {case.key}: {what} {name!r} is {type(value).__name__}, not a tensor")
        out[prefix + name] = value.detach().cpu().contiguous().clone()
    return out


def generate(cases: list[Case], golden_dir: Path = GOLDEN_DIR) -> list[Path]:
    """Run each case on the reference and write its golden file and manifest entry."""
    from safetensors.torch import save_file

    versions = reference_versions()
    written = []
    for case in cases:
        inputs = case.inputs()
        with golden_threads():
            reference = case.reference(case.params, {k: v.clone() for k, v in inputs.items()})
        tensors = _plain(inputs, INPUT_PREFIX, case, "input") | _plain(reference, REF_PREFIX, case, "output")
        path = golden_dir / case.golden_relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"case": case.key, "writer": "reference", **versions})
        path.chmod(0o644)  # safetensors writes 0600; goldens are shared, read-only data
        size = path.stat().st_size
        with _locked_manifest(golden_dir) as manifest:
            manifest["threads"] = GOLDEN_THREADS
            manifest["files"][case.golden_relpath] = {
                "sha256": sha256_of(path),
                "bytes": size,
                "case": case.definition(),
                "seed": case.seed,
                "versions": versions,
                "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        print(f"wrote golden/{case.golden_relpath} ({size / 1024:.1f} KiB)")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: generate, verify or list goldens."""
    parser = argparse.ArgumentParser(prog="python -m parity.golden", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write goldens with mmdet/mmcv (reference environment only)")
    gen.add_argument("--only", nargs="+", metavar="NAME", help="case key prefixes or globs")
    sub.add_parser("verify", help="check every golden against MANIFEST.json and the registered cases")
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
        generate(select(args.only))
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
