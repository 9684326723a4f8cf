"""Turn expected failures of a command into one-line messages and exit code 2.

Bad input (a config error, a missing file, a file that is not a checkpoint or an
image) is the user's to fix, so it is reported as ``visdet <command>: error: <message>``
on stderr without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

EXIT_USAGE = 2
# What bad input raises: ConfigError is a ValueError; missing files are OSErrors.
INPUT_ERRORS = (ValueError, TypeError, KeyError, OSError)


def guarded(command: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorate a command handler so bad input exits 2 with a one-line message."""

    def wrap(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(handler)
        def run(args: argparse.Namespace) -> int:
            try:
                return handler(args)
            except INPUT_ERRORS as err:
                message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
                print(f"visdet {command}: error: {message}", file=sys.stderr)
                return EXIT_USAGE

        return run

    return wrap
