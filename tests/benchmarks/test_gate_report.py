"""benchmarks/gate/report.py: markdown and exit status from gate results (no timing here)."""

import json
from pathlib import Path

import pytest

from benchmarks.gate.report import (
    EXIT_ERROR,
    EXIT_PASS,
    EXIT_REGRESSED,
    changed_counters,
    evaluate,
    exit_status,
    main,
    render,
)

DATA = Path(__file__).parent / "data"


def _case(ratios, base=0.100, status="ok", **extra):
    n = len(ratios)
    return {"status": status, "ratios": list(ratios), "base": [base] * n, "head": [base * r for r in ratios], **extra}


def _result(**cases):
    return {
        "schema": "visdet.gate",
        "meta": {"base": "a" * 40, "head": "b" * 40, "wall_s": 12.0, "load_start": "1.00", "load_end": "2.00"},
        "rule": {"lower": 1.05, "median": 1.10, "confidence": 0.95},
        "cases": cases,
    }


QUIET = [0.98, 1.01, 1.03, 0.97, 1.00, 1.02]
SLOWER = [1.19, 1.22, 1.17, 1.25, 1.21, 1.18]


def test_no_regression_exits_0_and_says_so():
    result = _result(nms=_case(QUIET), backbone=_case(QUIET, base=0.45))
    assert exit_status(result) == EXIT_PASS
    text = render(result)
    assert "No regression (exit 0)." in text
    # n=6: the interval is [min, max] = [0.97, 1.03]; the median of the six is (1.00 + 1.01) / 2
    assert "| nms | 100.00 ms | 100.50 ms | 1.005 [0.970, 1.030] | 6 | no change |" in text
    assert "| backbone | 450.00 ms |" in text


def test_regression_exits_1_and_is_named():
    result = _result(nms=_case(QUIET), roi_align=_case(SLOWER, base=0.075))
    assert exit_status(result) == EXIT_REGRESSED
    text = render(result)
    assert "**Regression**: roi_align got slower (exit 1)." in text
    assert "| roi_align | 75.00 ms | 90.00 ms | 1.200 [1.170, 1.250] | 6 | :red_circle: regression |" in text


def test_an_error_wins_over_a_regression_and_exits_2():
    failing = {"status": "error", "detail": "head: setup: TypeError: bad | pipe", "ratios": [], "base": [], "head": []}
    result = _result(nms=_case(SLOWER), pipeline=failing)
    assert exit_status(result) == EXIT_ERROR
    text = render(result)
    assert "**Error**: pipeline failed to run (exit 2)." in text
    assert "| pipeline | | | | | error: head: setup: TypeError: bad / pipe |" in text  # the pipe is escaped


def test_unavailable_case_is_listed_not_failed():
    missing = {"status": "n/a", "detail": "base: not available", "ratios": [], "base": [], "head": []}
    result = _result(nms=_case(QUIET), new_op=missing)
    assert exit_status(result) == EXIT_PASS
    assert "| new_op | | | | | n/a: base: not available |" in render(result)


def test_small_sample_shows_its_true_coverage():
    text = render(_result(nms=_case([1.0, 1.1, 0.9, 1.05])))
    assert "(88% CI)" in text  # 4 pairs: [min, max] covers the median with 1 - 2/16


def test_possible_does_not_fail_the_gate():
    rows = evaluate(_result(nms=_case([1.12, 1.02, 1.15, 1.11, 1.13, 1.09])))
    assert rows["nms"]["verdict"] == "possible"
    assert exit_status(_result(nms=_case([1.12, 1.02, 1.15, 1.11, 1.13, 1.09]))) == EXIT_PASS


def test_changed_counters_are_listed_with_the_operators_that_changed():
    same = {"flops": 100, "aten_calls": 10, "aten_ops": {"aten.mm": 10}, "peak_bytes": 64}
    more = {"flops": 100, "aten_calls": 13, "aten_ops": {"aten.mm": 10, "aten.add": 2, "aten.mul": 1}, "peak_bytes": 96}
    result = _result(nms=_case(QUIET, counters={"base": same, "head": more}),
                     backbone=_case(QUIET, counters={"base": same, "head": same}))  # fmt: skip
    assert changed_counters(result) == [
        ("nms", "aten_calls", 10, 13, "`aten.add` +2, `aten.mul` +1"),
        ("nms", "peak_bytes", 64, 96, ""),
    ]
    text = render(result)
    assert "| nms | ATen calls | 10 | 13 | 1.300 | `aten.add` +2, `aten.mul` +1 |" in text
    assert "| nms | peak tensor bytes | 64 | 96 | 1.500 |  |" in text
    assert exit_status(result) == EXIT_PASS  # counters are reported, they do not fail the gate


def test_unchanged_counters_say_so():
    same = {"flops": 100, "aten_calls": 10, "peak_bytes": 64}
    text = render(_result(nms=_case(QUIET, counters={"base": same, "head": same})))
    assert "FLOPs, ATen calls and peak tensor bytes are the same for every component measured." in text
    assert "Not measured for" not in text


def test_counters_not_measured_are_not_called_unchanged():
    same = {"flops": 100, "aten_calls": 10, "peak_bytes": 64}
    text = render(_result(nms=_case(QUIET)))  # --no-counters: no case has counters
    assert "Not measured (`--no-counters`, or no case ran)." in text
    assert "are the same" not in text
    partial = render(_result(nms=_case(QUIET, counters={"base": same, "head": same}), backbone=_case(QUIET)))
    assert "the same for every component measured" in partial
    assert "Not measured for: backbone." in partial


def test_asv_link_and_rule_in_the_footer():
    text = render(_result(nms=_case(QUIET)), asv_url="https://example.org/asv/")
    assert "[asv HTML](https://example.org/asv/)" in text
    assert "above 1.05 and the median is at least 1.1" in text
    assert "(asv HTML link: pass --asv-url)" in render(_result(nms=_case(QUIET)))


def test_recorded_injected_run_is_a_regression_and_aa_run_a_pass():
    # Results of real runs here (benchmarks/README.md, "Proof"); the blocks left out.
    injected = json.loads((DATA / "gate_injected_1_2.json").read_text())
    assert exit_status(injected) == EXIT_REGRESSED
    assert {n for n, row in evaluate(injected).items() if row["verdict"] == "regression"} == set(injected["cases"])
    aa = json.loads((DATA / "gate_aa.json").read_text())
    assert exit_status(aa) == EXIT_PASS


def test_main_writes_the_report_and_returns_the_status(tmp_path, capsys):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(_result(nms=_case(SLOWER))))
    out = tmp_path / "report.md"
    assert main([str(path), "-o", str(out)]) == EXIT_REGRESSED
    assert out.read_text() == capsys.readouterr().out.rstrip("\n") + "\n"


@pytest.mark.parametrize("content", ["not json", json.dumps({"meta": {}})])
def test_main_on_an_unreadable_result_is_an_error(tmp_path, content, capsys):
    path = tmp_path / "result.json"
    path.write_text(content)
    assert main([str(path)]) == EXIT_ERROR
    assert "cannot read a gate result" in capsys.readouterr().err
