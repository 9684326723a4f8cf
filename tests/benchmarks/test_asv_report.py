"""benchmarks/report.py on asv output captured from real runs (tests/benchmarks/data)."""

from pathlib import Path

import pytest

from benchmarks.report import (
    EXIT_ERROR,
    EXIT_PASS,
    EXIT_REGRESSED,
    main,
    parse_asv_table,
    summarize,
    to_markdown,
)

DATA = Path(__file__).parent / "data"


def test_parses_every_row_of_the_aa_compare():
    rows = parse_asv_table((DATA / "asv_compare_aa.txt").read_text())
    assert len(rows) == 44
    nms = next(r for r in rows if r.benchmark == "ops.NMS.time_nms('visdet', 1000)")
    assert (nms.before, nms.after, nms.ratio, nms.significant) == ("8.45±2ms", "7.12±0.9ms", 0.84, False)
    skipped = next(r for r in rows if r.benchmark == "ops.NMS.time_nms('mmdet', 1000)")
    assert skipped.skipped and skipped.ratio is None


def test_aa_run_passes_with_no_regression():
    summary = summarize(parse_asv_table((DATA / "asv_compare_aa.txt").read_text()), 1.1, 0)
    assert summary.regressions == [] and summary.improvements == [] and summary.failures == []
    assert summary.unchanged == 16 and summary.skipped == 28
    assert summary.exit_code == EXIT_PASS


def test_injected_slowdown_is_a_regression_sorted_by_ratio():
    rows = parse_asv_table((DATA / "asv_compare_injected_nms_1_5.txt").read_text())
    summary = summarize(rows, 1.1, 1)
    assert [r.benchmark for r in summary.regressions][0] == "ops.NMS.time_nms('visdet', 1000)"
    assert [r.ratio for r in summary.regressions] == [2.13, 1.51, 1.38]
    assert summary.exit_code == EXIT_REGRESSED


def test_factor_filters_regressions_marked_by_asv():
    rows = parse_asv_table((DATA / "asv_continuous_injected_nms_1_5.txt").read_text())
    assert len(rows) == 3
    assert [r.ratio for r in summarize(rows, 2.0).regressions] == [2.13]
    assert summarize(rows, 3.0).exit_code == EXIT_PASS


def test_asv_exit_code_2_is_an_error_not_a_pass():
    rows = parse_asv_table((DATA / "asv_compare_aa.txt").read_text())
    summary = summarize(rows, 1.5, asv_exit_code=2)
    assert summary.exit_code == EXIT_ERROR
    assert "not a pass" in to_markdown(summary, base="a", head="b", factor=1.5)


def test_failed_benchmark_is_an_error():
    text = (
        "| Change | Before [a] | After [b] | Ratio | Benchmark (Parameter) |\n"
        "|--------|-----------|-----------|-------|------------------------|\n"
        "| !      | 1.00ms    | failed    | n/a   | ops.NMS.time_nms('visdet', 1000) |\n"
    )
    summary = summarize(parse_asv_table(text), 1.5, 0)
    assert len(summary.failures) == 1 and summary.exit_code == EXIT_ERROR


def test_markdown_lists_regressions_before_improvements():
    text = (
        "| Change | Before [a] | After [b] | Ratio | Benchmark (Parameter) |\n"
        "|--------|-----------|-----------|-------|------------------------|\n"
        "| -      | 10ms      | 2ms       | 0.20  | fast_one |\n"
        "| +      | 1ms       | 3ms       | 3.00  | slow_one |\n"
        "|        | 1ms       | 1ms       | 1.00  | same_one |\n"
    )
    markdown = to_markdown(summarize(parse_asv_table(text), 1.5), base="a", head="b", factor=1.5)
    assert markdown.index("slow_one") < markdown.index("fast_one")
    assert "| 3.00 | 1ms | 3ms | `slow_one` |" in markdown
    assert "Unchanged: 1." in markdown


def test_malformed_row_raises():
    with pytest.raises(ValueError, match="cells"):
        parse_asv_table("| + | 1ms | 2ms |\n")


def test_cli_from_file_writes_markdown_and_exit_codes(tmp_path, capsys):
    out = tmp_path / "report.md"
    code = main(
        [
            "base",
            "head",
            "--from-file",
            str(DATA / "asv_compare_injected_nms_1_5.txt"),
            "--factor",
            "1.1",
            "-o",
            str(out),
        ]
    )
    assert code == EXIT_REGRESSED
    assert "ops.NMS.time_nms('visdet', 1000)" in out.read_text()
    assert main(["base", "head", "--from-file", str(DATA / "asv_compare_aa.txt")]) == EXIT_PASS
    empty = tmp_path / "empty.txt"
    empty.write_text("asv: nothing here\n")
    assert main(["base", "head", "--from-file", str(empty)]) == EXIT_ERROR


def test_factor_two_keeps_the_injected_2x_and_drops_the_noise():
    # Real run: nms slowed 2x on the head only; roi_align's 1.62 is noise (no code change).
    rows = parse_asv_table((DATA / "asv_continuous_injected_nms_2_factor_1_5.txt").read_text())
    assert {r.benchmark for r in summarize(rows, 1.5).regressions} == {
        "ops.NMS.time_nms('visdet', 4000)",
        "ops.NMS.time_nms('visdet', 1000)",
        "ops.RoIAlign.time_forward('visdet', 100)",
    }
    assert [r.benchmark for r in summarize(rows, 2.0).regressions] == [
        "ops.NMS.time_nms('visdet', 4000)",
        "ops.NMS.time_nms('visdet', 1000)",
    ]
