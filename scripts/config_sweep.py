"""Sweep every mmdet 3.3 config through visdet's reader and mmengine's ``Config``.

Run with the reference environment from the worktree root, so that this worktree's
``visdet`` is imported::

    PYTHONPATH=$PWD /work/main/.venv-ref/bin/python scripts/config_sweep.py [--json out.json]

Each config outside ``_base_/`` lands in one bucket:

* ``identical``: ``read_mmdet_config(path)`` equals ``Config.fromfile(path).to_dict()``
  (tuples as lists; mmengine's leftover ``_delete_`` markers dropped, as visdet drops them);
* ``differ``: both read it, to different dicts (the first differing key path is given);
* ``refused``: visdet raised ``ConfigError`` (the message is given);
* ``visdet-crash``: visdet raised anything else (a bug: the reader must only raise ConfigError);
* ``mmengine-cannot-read``: mmengine itself fails on it (missing plugins, ...); visdet's
  outcome is still recorded.

``--skip-custom-imports`` lets mmengine skip a config's ``custom_imports`` (mmpretrain is not
in the reference environment), so that those configs are compared too. The exit status is 0;
the figures are for the reader's changelog, not a gate.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import time
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _first_difference(got: Any, expected: Any, where: str = "") -> str:
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in list(expected) + [k for k in got if k not in expected]:
            if key not in got:
                return f"{where}.{key}: missing in visdet"
            if key not in expected:
                return f"{where}.{key}: only in visdet"
            if got[key] != expected[key]:
                return _first_difference(got[key], expected[key], f"{where}.{key}")
        return f"{where}: key order or type"
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for index, (a, b) in enumerate(zip(got, expected)):
            if a != b:
                return _first_difference(a, b, f"{where}[{index}]")
    return f"{where}: visdet {got!r:.80} != mmengine {expected!r:.80}"


def main() -> int:
    """Sweep, print the counts and the reasons; write ``--json`` if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write every config's bucket and reason here")
    parser.add_argument(
        "--skip-custom-imports",
        action="store_true",
        help="let mmengine skip custom_imports (mmpretrain...) so that those configs are compared too",
    )
    parser.add_argument("--root", help="mmdet's configs folder (default: the installed mmdet's .mim/configs)")
    args = parser.parse_args()

    from importlib.util import find_spec

    from mmengine.config import Config

    from visdet.config.errors import ConfigError
    from visdet.config.mmdet_convert import read_mmdet_config

    # found without importing mmdet (which needs mmcv's compiled ops)
    root = args.root or os.path.join(find_spec("mmdet").submodule_search_locations[0], ".mim", "configs")
    files = sorted(f for f in glob.glob(f"{root}/**/*.py", recursive=True) if "/_base_/" not in f)
    results: dict[str, dict[str, str]] = {}
    started = time.perf_counter()
    for path in files:
        name = os.path.relpath(path, root)
        try:
            expected = _plain(Config.fromfile(path, import_custom_modules=not args.skip_custom_imports).to_dict())
        except Exception as err:  # noqa: BLE001 - any failure of mmengine is recorded, not raised
            expected = None
            mmengine_error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
        try:
            got = read_mmdet_config(path)
            visdet_error = None
        except ConfigError as err:
            got, visdet_error = None, f"refused: {err}"[:300]
        except Exception as err:  # noqa: BLE001 - a crash is a bug, recorded as such
            got, visdet_error = None, f"crash: {type(err).__name__}: {err}"[:300]
        if expected is None:
            bucket = "mmengine-cannot-read"
            reason = f"mmengine: {mmengine_error}; visdet: {visdet_error or 'read it'}"
        elif visdet_error is not None:
            bucket = "refused" if visdet_error.startswith("refused") else "visdet-crash"
            reason = visdet_error
        elif got == expected:
            bucket, reason = "identical", ""
        else:
            bucket, reason = "differ", _first_difference(got, expected)
        results[name] = {"bucket": bucket, "reason": reason}
    elapsed = time.perf_counter() - started

    counts = collections.Counter(r["bucket"] for r in results.values())
    readable = len(files) - counts["mmengine-cannot-read"]
    print(f"{len(files)} configs outside _base_ under {root} ({elapsed:.0f} s)")
    print(f"mmengine reads {readable}; of those visdet reads identically {counts['identical']}")
    for bucket in ("identical", "differ", "refused", "visdet-crash", "mmengine-cannot-read"):
        print(f"  {bucket:22s} {counts[bucket]}")
    for name, result in results.items():
        if result["bucket"] != "identical":
            print(f"{result['bucket']:22s} {name}: {result['reason']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"counts": dict(counts), "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
