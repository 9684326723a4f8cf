"""The NMS golden cases again, through the torch versions of the passes.

On CPU float32/float64 tensors greedy NMS and soft-NMS run numpy versions of their loops;
other devices and dtypes run the torch versions (``_greedy_torch``, the torch sparse pass,
``_soft_nms``). Both are meant to give mmcv's result exactly, so the parity suite checks
both against the reference's goldens: here every NMS case runs under
:func:`visdet.ops._nms_kernels.torch_kernels_only`.
"""

from __future__ import annotations

import pytest

from parity.cases import load_all
from parity.golden import read_manifest, run_against_golden
from visdet.ops._nms_kernels import torch_kernels_only

NMS_COMPONENTS = ("ops/nms", "ops/batched_nms", "ops/soft_nms", "ops/multiclass_nms")
CASES = {key: case for key, case in load_all().items() if case.component in NMS_COMPONENTS}
MANIFEST = read_manifest()


def test_every_nms_component_has_cases() -> None:
    assert {case.component for case in CASES.values()} == set(NMS_COMPONENTS)


@pytest.mark.golden
@pytest.mark.parametrize("key", sorted(CASES))
def test_torch_kernels_against_golden(key: str, parity_record) -> None:
    case = CASES[key]
    with torch_kernels_only():
        result = run_against_golden(case, manifest=MANIFEST)
    parity_record(case.component, f"{case.name} (torch kernels)", "golden", result=result)
    assert result.ok, f"{case.key} (torch kernels) differs from golden/{case.golden_relpath}:\n{result.failure_text()}"
