"""``python -m benchmarks.gate``: see :mod:`benchmarks.gate.runner`."""

import sys

from benchmarks.gate.runner import main

sys.exit(main())
