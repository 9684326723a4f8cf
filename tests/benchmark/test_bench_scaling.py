"""The scaling tables and plot of ``benchmarks.compare_scaling``, on a run recorded here.

``data/scaling_rois.json`` (``--sections rois``) and ``data/scaling_size_batch.json``
(``--sections size,batch``) are the runs of 2026-12-02 that ``benchmarks/README.md``
quotes. Nothing here times anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from visdet.benchmark.plots import plot_scaling, write_report
from visdet.benchmark.scaling import format_scaling_tables, padded_shape
from visdet.benchmark.schema import BenchmarkRun, Metric
from visdet.cli import main

DATA = Path(__file__).parent / "data"
SIZE_RUN = BATCH_RUN = DATA / "scaling_size_batch.json"
ROI_RUN = DATA / "scaling_rois.json"
RECORDED = [SIZE_RUN, ROI_RUN]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table_rows(text: str, title_start: str) -> list[list[str]]:
    """The data rows (cells) of the markdown table after the line starting with ``title_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    rows = []
    for line in lines[start + 4 :]:  # title, blank, header, separator
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _raw_time(path: Path, component: str, impl: str, size: int, metric: str = "forward_time") -> float:
    """A median straight from the JSON text (not through the code under test)."""
    for r in json.loads(path.read_text())["results"]:
        if (r["component"], r["impl"], r["size"]) == (component, impl, size):
            return r["metrics"][metric]["value"]
    raise KeyError((component, impl, size))


def test_padded_shapes_of_the_coco_aspect():
    # 1333 * 800/1333 = 800; 512 * 0.60015 = 307.3; 1066 * 0.60015 = 639.8; padded up to /32
    assert padded_shape(1333) == ((800, 1333), (800, 1344))
    assert padded_shape(800) == ((480, 800), (480, 800))
    assert padded_shape(512) == ((307, 512), (320, 512))
    assert padded_shape(1066) == ((640, 1066), (640, 1088))


def test_tables_have_every_point_and_the_ratios_of_the_json():
    text = format_scaling_tables([BenchmarkRun.load(path) for path in RECORDED])
    size_rows = _table_rows(text, "predict vs image long side")
    roi_rows = _table_rows(text, "RoI head vs proposals")
    batch_rows = _table_rows(text, "predict throughput vs batch")
    assert [row[0] for row in size_rows] == ["512", "800", "1066", "1333"]
    assert [row[0] for row in roi_rows] == ["100", "500", "1000", "2000"]
    assert [row[0] for row in batch_rows] == ["1", "2", "4", "8"]
    # size table: 3 implementations, 2 ratios, load; first point's growth is 1.00
    assert all(len(row) == 7 for row in size_rows + roi_rows)
    assert size_rows[0][1].endswith("(1.00)") and roi_rows[0][3].endswith("(1.00)")
    fused = _raw_time(SIZE_RUN, "scaling/predict_image_size", "visdet", 1333)
    unfused = _raw_time(SIZE_RUN, "scaling/predict_image_size", "visdet-unfused", 1333)
    mmdet = _raw_time(SIZE_RUN, "scaling/predict_image_size", "mmdet", 1333)
    assert size_rows[3][4] == f"{fused / mmdet:.2f}" and size_rows[3][5] == f"{unfused / mmdet:.2f}"
    rois = [_raw_time(ROI_RUN, "scaling/roi_head_rois", impl, 2000) for impl in ("visdet", "mmdet")]
    assert roi_rows[3][4] == f"{rois[0] / rois[1]:.2f}"
    # batch table: images/s of visdet fused and mmdet, their ratio (mmdet's time / visdet's), load
    batch = [_raw_time(BATCH_RUN, "scaling/predict_batch", impl, 8) for impl in ("visdet", "mmdet")]
    assert batch_rows[3][1] == f"{8 / batch[0]:.3g}" and batch_rows[3][3] == f"{batch[1] / batch[0]:.2f}"
    assert all(row[-1] != "n/a" and "-" in row[-1] for row in size_rows + roi_rows + batch_rows)
    # the RoI head's stages follow its times
    assert _table_rows(text, "Stages")[0][0] == "100"
    extractor = [_raw_time(ROI_RUN, "scaling/roi_head_rois", impl, 100, "stage:roi extractor")
                 for impl in ("visdet", "mmdet")]  # fmt: skip
    assert _table_rows(text, "Stages")[0][1] == (
        f"{extractor[0]:.3f} / {extractor[1]:.3f} = {extractor[0] / extractor[1]:.2f}"
    )
    assert roi_rows[0][1] == f"{_raw_time(ROI_RUN, 'scaling/roi_head_rois', 'visdet', 100):.3f} (1.00)"


def test_each_component_comes_from_the_newest_run():
    run = BenchmarkRun.load(ROI_RUN)
    later = dataclasses.replace(
        run,
        created="2099-01-01T00:00:00+00:00",
        results=[dataclasses.replace(r, metrics={"forward_time": Metric(2.0 * r.size, "s")}) for r in run.results],
    )
    for order in ([run, later], [later, run]):
        rows = _table_rows(format_scaling_tables(order), "RoI head vs proposals")
        assert rows[3][1] == "4000.000 (20.00)"  # 2000 proposals: 2 s each, from the later run
        assert rows[0][-1] == "n/a"  # the later run has no load note


def test_report_draws_the_scaling_png(tmp_path):
    written = write_report([BenchmarkRun.load(path) for path in RECORDED], tmp_path)
    scaling = tmp_path / "scaling.png"
    assert scaling in written
    assert scaling.read_bytes()[:8] == PNG_MAGIC and scaling.stat().st_size > 20000


def test_no_scaling_png_or_tables_without_scaling_results(fake_run, tmp_path):
    run = fake_run(1.0, impls=("visdet", "mmdet"))
    assert plot_scaling([run], tmp_path / "scaling.png") is None
    assert not (tmp_path / "scaling.png").exists()
    assert "scaling.png" not in {p.name for p in write_report([run], tmp_path)}
    with pytest.raises(ValueError, match="no scaling results"):
        format_scaling_tables([run])


def test_cli_report_and_table_entry_points(tmp_path, capsys):
    assert main(["bench", "report", *map(str, RECORDED), "-o", str(tmp_path)]) == 0
    assert str(tmp_path / "scaling.png") in capsys.readouterr().out
    from benchmarks import compare_scaling

    assert compare_scaling.main(["--table", *map(str, RECORDED)]) == 0
    out = capsys.readouterr().out
    assert out.count("| 1333 |") == 1 and "visdet fused / mmdet images/s" in out
    assert out.count("| 2000 |") == 2  # the RoI head's times and its stages
