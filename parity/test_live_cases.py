"""Live differential tests: visdet and mmdet/mmcv on fresh hypothesis-drawn inputs, same process.

Each registered case with ``live=True`` runs on inputs drawn from a seed that hypothesis
chooses (and, where the case offers them, on alternative parameter sets). Without the
reference installed these tests skip with a one-line reason.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.cases import load_all
from parity.cases.base import split_state
from parity.compare import CaseResult, compare_outputs
from parity.reference import reference_missing

CASES = load_all()
LIVE_KEYS = sorted(k for k, c in CASES.items() if c.live)
EXAMPLES = int(os.environ.get("VISDET_LIVE_EXAMPLES", "5"))


@pytest.mark.live
@pytest.mark.parametrize("key", LIVE_KEYS)
def test_case_live(key: str, parity_record) -> None:
    missing = reference_missing()
    if missing:
        pytest.skip(missing)
    case = CASES[key]
    variants = [dict(case.params)] + [{**case.params, **extra} for extra in case.live_params]
    worst: list[CaseResult] = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**31 - 1), variant=st.sampled_from(variants))
    def run(seed: int, variant: dict) -> None:
        generator_inputs = case.inputs(seed=seed, params=variant)
        reference = case.run_reference(variant, generator_inputs)
        state, outputs = split_state(reference)
        got = case.run_visdet(variant, {**generator_inputs, **state})
        result = compare_outputs(case.key, got, outputs, case.exact, case.empty_ok)
        worst.append(result)
        assert result.ok, f"{case.key} (live, seed={seed}, params={variant}):\n{result.failure_text()}"

    try:
        run()
    finally:
        if worst:
            merged = CaseResult(keys=[k for r in worst for k in r.keys])
            parity_record(case.component, case.name, "live", result=merged, examples=len(worst))
