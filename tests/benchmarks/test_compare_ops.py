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


def test_soft_nms_decays_are_named_ops(capsys) -> None:
    """``soft_nms_gaussian`` / ``soft_nms_naive`` call soft_nms with that decay (``soft_nms``: linear)."""
    methods = []

    def recorder(boxes, scores, iou_threshold, sigma, min_score, method):
        methods.append(method)

    for op in ("soft_nms", "soft_nms_gaussian", "soft_nms_naive"):
        compare_ops._call(op, recorder, 8)()
    assert methods == ["linear", "gaussian", "naive"]
    code = compare_ops.main(
        ["--impls", "visdet", "--ops", "soft_nms_gaussian,soft_nms_naive", "--sizes", "8", "--repeats", "1"]
        + ["--block-ms", "1", "--no-memory"]
    )
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("soft_nms_")]
    assert code == 0 and [row[:2] for row in rows] == [["soft_nms_gaussian", "8"], ["soft_nms_naive", "8"]]
    assert all(float(row[2]) > 0 for row in rows)  # ms per call
