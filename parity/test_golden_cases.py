"""Differential tests: every registered case against the golden file the reference wrote.

Nothing pins torch's thread count or kernels here: the goldens hold on any CPU (see
:mod:`parity.precision`), and ``parity/test_portability.py`` proves it under the CPU
settings one machine can imitate.
"""

from __future__ import annotations

import pytest

from parity.cases import load_all
from parity.golden import read_manifest, run_against_golden

CASES = load_all()
MANIFEST = read_manifest()


@pytest.mark.golden
@pytest.mark.parametrize("key", sorted(CASES))
def test_case_against_golden(key: str, parity_record) -> None:
    case = CASES[key]
    try:
        result = run_against_golden(case, manifest=MANIFEST)  # GoldenError names a missing/changed/stale file
    except Exception as err:
        parity_record(case.component, case.name, "golden", error=f"{type(err).__name__}: {err}")
        raise
    parity_record(case.component, case.name, "golden", result=result)
    assert result.ok, f"{case.key} differs from golden/{case.golden_relpath}:\n{result.failure_text()}"
