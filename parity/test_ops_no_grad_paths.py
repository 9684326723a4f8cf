"""The RoIAlign golden cases again, forward only: the paths taken without gradients.

``visdet.ops.roi_align`` runs max pooling RoI by RoI (``roi_align_max_no_grad``) when no gradient
is needed, and copies RoI patches of a channels-last map for average pooling; both are meant to
give the golden's output exactly as the general pass does. Each ``ops/roi_align`` case's stored
inputs go through ``roi_align`` under ``torch.no_grad()``, once on the map as stored (NCHW) and once
on a channels-last copy, and the output is compared with the reference's (``ref.out``) at the
fp32 tolerance of ``parity/tolerances.yaml``'s default.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from parity.cases import load_all
from parity.golden import GOLDEN_DIR
from visdet.ops import roi_align

CASES = {key: case for key, case in load_all().items() if case.component == "ops/roi_align"}


def test_max_and_avg_cases_are_both_here() -> None:
    modes = {case.params["pool_mode"] for case in CASES.values()}
    assert modes == {"avg", "max"}


@pytest.mark.golden
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("key", sorted(CASES))
def test_forward_without_gradients_against_golden(key: str, memory_format: torch.memory_format) -> None:
    case = CASES[key]
    p = case.params
    stored = load_file(str(GOLDEN_DIR / case.golden_relpath))
    feats = stored["in.input"].contiguous(memory_format=memory_format)
    size = p["output_size"][0] if p.get("int_size") else tuple(p["output_size"])
    with torch.no_grad():
        out = roi_align(feats, stored["in.rois"], size, p["spatial_scale"], p["sampling_ratio"], p["pool_mode"],
                        p["aligned"])  # fmt: skip
    want = stored["ref.out"]
    assert out.shape == want.shape
    if want.numel() == 0:  # the empty cases: the shape is the point
        assert p["rois"] == 0 or min(want.shape) == 0
        return
    torch.testing.assert_close(out.contiguous(), want, atol=1e-5, rtol=1e-5)
