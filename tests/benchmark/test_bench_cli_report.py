import json

import pytest

from visdet.benchmark.cases import registered_cases
from visdet.benchmark.plots import write_report
from visdet.benchmark.schema import BenchmarkRun
from visdet.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_writes_png_files(fake_run, tmp_path):
    runs = [
        fake_run(1.0, impls=("visdet", "mmdet")),
        fake_run(2.0, created="2026-02-01T00:00:00+00:00", impls=("visdet", "mmdet")),
    ]
    written = write_report(runs, tmp_path / "plots")
    names = sorted(p.name for p in written)
    assert names == ["history.png", "time_per_component.png", "time_vs_size.png", "visdet_vs_mmdet.png"]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


def test_cli_compare_exit_codes(run_files, capsys):
    base, same, slower = run_files
    assert main(["bench", "compare", str(base), str(same)]) == 0
    assert main(["bench", "compare", str(base), str(slower), "--factor", "1.5"]) == 1
    assert "WORSE" in capsys.readouterr().out
    assert main(["bench", "compare", str(base), str(slower), "--factor", "3"]) == 0
    assert main(["bench", "compare", str(base), str(base.parent / "missing.json")]) == 2


def test_cli_report_and_bad_input(run_files, tmp_path, capsys):
    base, same, slower = run_files
    out = tmp_path / "report"
    assert main(["bench", "report", str(base), str(slower), "-o", str(out)]) == 0
    assert (out / "history.png").read_bytes()[:8] == PNG_MAGIC
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"schema": "other"}))
    assert main(["bench", "report", str(junk), "-o", str(out)]) == 2


def test_cli_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exc:
        main(["bench"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["bench", "compare", "only_one.json"])
    assert exc.value.code == 2


def test_cli_ops_quick_run_writes_a_valid_json(tmp_path, capsys):
    out = tmp_path / "ops.json"
    code = main(
        [
            "bench",
            "ops",
            "-c",
            "ops/nms",
            "-c",
            "bbox_overlaps",
            "--sizes",
            "8",
            "--min-run-time",
            "0.001",
            "--warmup",
            "0",
            "--against",
            "mmdet",
            "-o",
            str(out),
        ]
    )
    run = BenchmarkRun.load(out)
    by_key = {(r.component, r.impl): r for r in run.results}
    assert set(by_key) == {
        ("ops/nms", "visdet"),
        ("ops/nms", "mmdet"),
        ("ops/bbox_overlaps", "visdet"),
        ("ops/bbox_overlaps", "mmdet"),
    }
    nms = by_key[("ops/nms", "visdet")]
    if nms.status == "ok":
        assert nms.metrics["forward_time"].unit == "s" and nms.metrics["forward_time"].value > 0
        assert nms.metrics["forward_peak_memory"].unit == "B"
    # without mmcv the reference side is reported, not crashed on
    assert by_key[("ops/nms", "mmdet")].status in ("ok", "unavailable")
    assert run.machine["threads_used"] == 1 and run.machine["torch"]
    assert code == (3 if any(r.status == "error" for r in run.results) else 0)


def test_cli_list_and_unknown_component(capsys):
    assert main(["bench", "model", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "models/backbone_resnet50" in listed and "[slow]" in listed
    assert main(["bench", "ops", "-c", "no_such_op"]) == 2


def test_every_case_has_both_implementations_and_sizes():
    cases = registered_cases()
    assert {
        "ops/nms",
        "ops/roi_align",
        "ops/bbox_overlaps",
        "layers/conv_module",
        "losses/cross_entropy",
        "models/faster_rcnn_predict",
        "models/faster_rcnn_predict_batch",
        "models/faster_rcnn_predict_rois",
    } <= set(cases)
    assert cases["models/faster_rcnn_predict_batch"].sizes == (1, 2, 4, 8)
    assert cases["models/faster_rcnn_predict_rois"].sizes == (100, 500, 1000, 2000)
    assert all(cases[f"models/faster_rcnn_predict{s}"].slow for s in ("", "_batch", "_rois"))
    for case in cases.values():
        assert set(case.builders) == {"visdet", "mmdet"}
        assert case.sizes and case.quick_sizes
