"""How many generated cases each fuzz test draws.

The default test run keeps a small, fixed-seed slice (``FUZZ_EXAMPLES`` = 200, derandomized);
``make fuzz`` sets ``VISDET_FUZZ_EXAMPLES=10000`` and lets hypothesis draw freely.
"""

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("VISDET_FUZZ_EXAMPLES", "200"))
FULL_RUN = "VISDET_FUZZ_EXAMPLES" in os.environ

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=not FULL_RUN,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    database=None,
)
