"""benchmarks/gate/proof.py: the tally of recorded gate runs (no timing here)."""

import json
import math

from benchmarks.gate.proof import tally


def _run(inject, **ratios):
    return {
        "schema": "visdet.gate",
        "meta": {"base": "a" * 40, "head": "a" * 40, "wall_s": 100.0, "inject_head": inject},
        "rule": {"lower": 1.05, "median": 1.10, "confidence": 0.95},
        "cases": {name: {"status": "ok", "ratios": r, "base": [0.1] * len(r), "head": [0.1 * x for x in r]}
                  for name, r in ratios.items()},  # fmt: skip
    }


def test_tally_counts_verdicts_exit_codes_pairs_and_spread(tmp_path):
    slow = [1.19, 1.22, 1.17, 1.25, 1.21, 1.18]
    quiet = [0.98, 1.01, 1.03, 0.97, 1.00, 1.02]
    for index, (nms, backbone) in enumerate([(slow, quiet), (slow, slow)]):
        (tmp_path / f"run{index:02d}.json").write_text(json.dumps(_run("nms:1.2", nms=nms, backbone=backbone)))
    (tmp_path / "run02.json").write_text(json.dumps(_run("nms:1.2", nms=quiet, backbone=quiet)))
    text = tally(tmp_path)
    assert "3 runs, injected: nms:1.2; exit codes {0: 1, 1: 2}" in text
    # spread: population sd of log(ratio / run median) over every pair of every run
    centre = math.log(sorted(slow)[2] / 2 + sorted(slow)[3] / 2)
    dev_slow = [math.log(r) - centre for r in slow]
    centre_q = math.log(sorted(quiet)[2] / 2 + sorted(quiet)[3] / 2)
    dev_quiet = [math.log(r) - centre_q for r in quiet]
    devs = dev_slow * 2 + dev_quiet
    mean = sum(devs) / len(devs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in devs) / len(devs))
    assert f"| nms | 3 | 2 | 0 | 1 | 0 | 0 | 1.200 (1.005-1.200) | 6 (6) | {sd:.3f} |" in text
    assert "| backbone | 3 | 1 | 0 | 2 | 0 | 0 |" in text


def test_tally_of_an_empty_folder_says_so(tmp_path):
    assert tally(tmp_path) == f"{tmp_path}: no results\n"
