"""The goldens hold on other CPUs: every golden case under each imitated CPU setting.

Each setting runs ``python -m parity.golden check`` in a fresh interpreter (the kernel
switches are read when torch loads). A case that passes here only because this machine
wrote the golden would fail under at least one of them: the float32 gradient goldens of
the previous design failed under three of the five.
"""

from __future__ import annotations

import pytest

from parity import MKL_INSTRUCTIONS
from parity.cases import load_all
from parity.portability import REPORT_DIR, SETTINGS, run_setting


@pytest.mark.portability
@pytest.mark.parametrize("name", list(SETTINGS))
def test_goldens_hold_under_cpu_setting(name: str) -> None:
    setting = SETTINGS[name]
    result = run_setting(setting, REPORT_DIR)
    assert result["returncode"] == 0, f"golden check under {name} failed:\n{result['output'][-6000:]}"
    rows = result["rows"]
    assert len(rows) == len(load_all()), f"{name}: checked {len(rows)} of {len(load_all())} cases"
    assert all(row["ok"] for row in rows)
    machine = result["machine"]
    assert machine["threads"] == setting.threads
    mkl = setting.env.get("MKL_ENABLE_INSTRUCTIONS", MKL_INSTRUCTIONS)
    assert machine["env"] == {k: v for k, v in setting.env.items() if k != "MKL_ENABLE_INSTRUCTIONS"}
    assert machine["mkl_instructions"] == mkl
    if setting.env.get("ATEN_CPU_CAPABILITY") == "default":
        assert machine["cpu_capability"] == "DEFAULT", "ATEN_CPU_CAPABILITY=default did not take effect"
