"""``benchmarks.compare_ops`` runs end to end (visdet alone: no mmcv needed)."""

from benchmarks import compare_ops


def test_compare_ops_runs_visdet_alone(capsys) -> None:
    code = compare_ops.main(
        ["--impls", "visdet", "--ops", "nms,soft_nms,roi_align_max", "--sizes", "8", "--repeats", "1"]
        + ["--block-ms", "1", "--no-memory"]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["nms"], ["soft_nms"], ["roi_align_max"])]
    assert [row[:2] for row in rows] == [["nms", "8"], ["soft_nms", "8"], ["roi_align_max", "8"]]
    assert all(float(row[2]) > 0 for row in rows)  # ms per call
