"""Differential tests: every registered case against the golden file the reference wrote."""

from __future__ import annotations

import pytest

from parity.cases import load_all
from parity.cases.base import split_state
from parity.compare import compare_outputs
from parity.golden import golden_threads, load_golden, read_manifest

CASES = load_all()
MANIFEST = read_manifest()


@pytest.mark.golden
@pytest.mark.parametrize("key", sorted(CASES))
def test_case_against_golden(key: str, parity_record) -> None:
    case = CASES[key]
    golden = load_golden(case, manifest=MANIFEST)  # raises GoldenError naming the file if missing/changed/stale
    state, reference = split_state(golden.reference)
    try:
        with golden_threads(MANIFEST.get("threads", 2)):
            got = case.visdet(case.params, {**{k: v.clone() for k, v in golden.inputs.items()}, **state})
    except Exception as err:
        parity_record(case.component, case.name, "golden", error=f"{type(err).__name__}: {err}")
        raise
    result = compare_outputs(case.key, got, reference, case.exact)
    parity_record(case.component, case.name, "golden", result=result)
    assert result.ok, f"{case.key} differs from golden/{case.golden_relpath}:\n{result.failure_text()}"
