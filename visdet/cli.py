"""The ``visdet`` command line: ``visdet <command> ...``.

Commands live in their own modules, listed in :data:`COMMANDS`. Each module provides
``add_parser(subparsers)``, which adds its sub-parser and sets ``handler`` (a function
``args -> exit code``) as a default. Adding ``predict``, ``train`` or ``config`` later
is one module plus one entry here. Command modules keep heavy imports (torch,
matplotlib) inside their handlers so ``visdet --help`` stays fast.

Exit codes shared by the commands: 0 success, 1 a check failed (e.g. a benchmark
regression), 2 bad usage or unreadable input, 3 the work itself failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name -> module providing add_parser(subparsers)
COMMANDS: dict[str, str] = {
    "bench": "visdet.benchmark.cli",
    "config": "visdet.commands.config_cmd",
    "export": "visdet.commands.export_cmd",
    "list-models": "visdet.commands.list_models_cmd",
    "parity": "visdet.commands.parity_cmd",
    "predict": "visdet.commands.predict_cmd",
    "train": "visdet.commands.train_cmd",
}

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_FAILED = 3


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered command."""
    parser = argparse.ArgumentParser(prog="visdet", description="visdet: object detection in pure PyTorch.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
