"""The harness's own rules: tolerance file, comparison, upstream tracker."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from parity.cases import load_all
from parity.compare import TOLERANCES, Tolerance, compare_outputs, compare_tensor, tolerance_for
from parity.upstream_tracker import load_tracker, summary

ROOT = Path(__file__).resolve().parent.parent


def test_tolerance_file_default_is_strict_and_overrides_have_reasons() -> None:
    data = yaml.safe_load(TOLERANCES.read_text())
    assert data["default"] == {"atol": 1.0e-5, "rtol": 1.0e-5}
    assert data["default_float64"] == {"atol": 1.0e-9, "rtol": 1.0e-9, "scaled": True}
    for entry in data.get("overrides") or []:
        assert len(str(entry["reason"]).split()) >= 5, f"{entry['match']}: the reason must explain the numerics"
        default = data["default_float64"] if entry.get("dtype") == "float64" else data["default"]
        looser = entry["atol"] > default["atol"] or entry["rtol"] > default["rtol"]
        assert looser, f"{entry['match']}: an override must be looser than its dtype's default (why else list it?)"


def test_overrides_match_registered_cases() -> None:
    from fnmatch import fnmatch

    data = yaml.safe_load(TOLERANCES.read_text())
    keys = list(load_all())
    for entry in data.get("overrides") or []:
        component_glob = entry["match"].split(":", 1)[0]
        assert any(fnmatch(k, component_glob) for k in keys), f"override {entry['match']} matches no case"


def test_compare_tensor_rules() -> None:
    tol = Tolerance(1e-5, 1e-5)
    ref = torch.tensor([1.0, 2.0, 0.0])
    assert compare_tensor("x", ref + 1e-6, ref, tol).ok
    bad = compare_tensor("x", ref + torch.tensor([0.0, 1e-3, 0.0]), ref, tol)
    assert not bad.ok and math.isclose(bad.max_abs, 1e-3, rel_tol=1e-3) and "beyond" in bad.message
    assert not compare_tensor("x", ref[:2], ref, tol).ok  # shape
    assert not compare_tensor("x", ref.double(), ref, tol).ok  # dtype
    idx = torch.tensor([3, 1, 2])
    assert compare_tensor("keep", idx.clone(), idx, Tolerance(0, 0, exact=True)).ok
    swapped = compare_tensor("keep", torch.tensor([1, 3, 2]), idx, Tolerance(0, 0, exact=True))
    assert not swapped.ok and "2 of 3 entries differ" in swapped.message
    nan = torch.tensor([float("nan"), 1.0])
    assert compare_tensor("n", nan.clone(), nan, tol).ok
    assert not compare_tensor("n", torch.tensor([0.0, 1.0]), nan, tol).ok


def test_nothing_to_compare_is_a_failure() -> None:
    assert not compare_outputs("ops/x/y", {}, {}, ()).ok
    empty = {"keep": torch.zeros(0, dtype=torch.long), "dets": torch.zeros(0, 5)}
    result = compare_outputs("ops/x/y", dict(empty), empty, ("keep",))
    assert not result.ok and "every reference output is empty" in result.failure_text()
    assert compare_outputs("ops/x/y", dict(empty), empty, ("keep",), empty_ok="no boxes in").ok
    # one non-empty output is something to compare
    assert compare_outputs("ops/x/y", {**empty, "n": torch.ones(1)}, {**empty, "n": torch.ones(1)}, ()).ok


def test_float64_outputs_get_the_float64_tolerance() -> None:
    ref = {"g": torch.tensor([1.0, 2.0], dtype=torch.float64)}
    assert compare_outputs("ops/x/y", {"g": ref["g"] + 1e-10}, ref, ()).ok
    assert not compare_outputs("ops/x/y", {"g": ref["g"] + 1e-6}, ref, ()).ok  # within 1e-5, beyond 1e-9
    # the absolute part scales with the output's largest element: 1e-9 * 1000 here
    big = {"g": torch.tensor([1000.0, 1e-3], dtype=torch.float64)}
    assert compare_outputs("ops/x/y", {"g": big["g"] + torch.tensor([0.0, 5e-7], dtype=torch.float64)}, big, ()).ok
    assert not compare_outputs("ops/x/y", {"g": big["g"] + torch.tensor([0.0, 5e-6], dtype=torch.float64)}, big, ()).ok


def test_compare_outputs_missing_and_extra_keys() -> None:
    ref = {"a": torch.ones(2), "b": torch.zeros(1)}
    result = compare_outputs("ops/x/y", {"a": torch.ones(2)}, ref, ())
    assert not result.ok and "did not return" in result.failure_text()
    result = compare_outputs("ops/x/y", {**ref, "c": torch.ones(1)}, ref, ())
    assert not result.ok and "lacks" in result.failure_text()


def test_default_tolerance_applies_without_override() -> None:
    tol = tolerance_for("no/such/case", "out", exact=False)
    assert (tol.atol, tol.rtol, tol.exact) == (1e-5, 1e-5, False)
    tol = tolerance_for("no/such/case", "out", exact=False, dtype=torch.float64)
    assert (tol.atol, tol.rtol, tol.exact, tol.scaled) == (1e-9, 1e-9, False, True)
    assert tolerance_for("no/such/case", "keep", exact=True).exact


def test_an_override_may_scale_its_absolute_tolerance() -> None:
    tol = tolerance_for("models/detectors/dino/loss", "grad.bbox_head.cls_branches.0.bias", False, torch.float64)
    assert (tol.atol, tol.rtol, tol.scaled) == (1e-6, 1e-6, True) and "float32" in tol.reason
    big, small = torch.full((3,), 40.0, dtype=torch.float64), torch.full((3,), 0.5, dtype=torch.float64)
    # 3e-5 is within 1e-6 * 40 (+ 1e-6 * 40) of outputs of scale 40, not of outputs of scale 1
    assert compare_outputs("models/detectors/dino/loss", {"grad.x": big + 3e-5}, {"grad.x": big}, ()).ok
    assert not compare_outputs("models/detectors/dino/loss", {"grad.x": small + 3e-5}, {"grad.x": small}, ()).ok


def test_upstream_tracker_is_consistent() -> None:
    entries = load_tracker()
    assert entries, "the upstream tracker lists no tests"
    for entry in entries:
        if entry.status not in ("ported", "partial"):
            continue
        path, _, name = entry.visdet.partition("::")
        assert (ROOT / path).exists(), f"{entry.tracker}: {entry.name} -> {path} does not exist"
        source = (ROOT / path).read_text()
        function = name.split("::")[-1].split("[")[0]
        assert f"def {function}(" in source, f"{entry.tracker}: {entry.name} -> {entry.visdet} not found"
        assert "Ported from" in source.split("\n\n")[0] + source[:600], f"{path} lacks its upstream header"
    assert 0.0 <= summary(entries)["ported_percent"] <= 100.0


def test_tracker_rejects_malformed_entries(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "- upstream: a.py\n  tests:\n    - name: t\n      status: ported\n"
    )
    with pytest.raises(ValueError, match=r"x.yaml\[0\].tests\[0\] \(t\): ported but names no visdet test"):
        load_tracker(tmp_path)
    (tmp_path / "x.yaml").write_text(
        "- upstream: a.py\n  tests:\n    - name: t\n      status: partial\n      visdet: p.py::t\n"
    )
    with pytest.raises(ValueError, match=r"partial needs a note saying what is missing"):
        load_tracker(tmp_path)


def test_one_visdet_test_cannot_stand_for_two_upstream_tests(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "- upstream: a.py\n  tests:\n"
        "    - {name: t1, status: ported, visdet: p.py::t}\n"
        "    - {name: t2, status: ported, visdet: p.py::t}\n"
    )
    with pytest.raises(ValueError, match=r"t2 and t1 both name p.py::t"):
        summary(load_tracker(tmp_path))


def test_partial_ports_count_in_scope_but_not_as_ported(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "- upstream: a.py\n  tests:\n"
        "    - {name: t1, status: ported, visdet: p.py::t1}\n"
        "    - {name: t2, status: partial, visdet: p.py::t2, note: half}\n"
        "    - {name: t3, status: planned}\n"
        "    - {name: t4, status: not-applicable, note: stub}\n"
    )
    counts = summary(load_tracker(tmp_path))
    assert (counts["ported"], counts["partial"], counts["planned"], counts["not-applicable"]) == (1, 1, 1, 1)
    assert counts["ported_percent"] == round(100 / 3, 1)


def test_near_tie_order_lines_up_swapped_near_ties_only() -> None:
    from parity.compare import near_tie_order

    ref_boxes = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 9, 9], [40, 40, 50, 50]])
    ref_scores = torch.tensor([0.9, 0.5000001, 0.5, 0.1])
    labels = torch.tensor([1, 2, 2, 3])
    # visdet ranks the near-tied pair the other way round
    swap = torch.tensor([0, 2, 1, 3])
    order = near_tie_order(ref_scores, ref_boxes, labels, ref_scores[swap] * 0 + torch.tensor([0.9, 0.5, 0.5, 0.1]),
                           ref_boxes[swap], labels[swap], score_tol=1e-6)
    assert order.tolist() == [0, 2, 1, 3]
    # a real difference (another box at the same score) is not hidden: nothing moves
    moved = ref_boxes.clone()
    moved[1] += 5
    order = near_tie_order(ref_scores, ref_boxes, labels, ref_scores, moved, labels, score_tol=1e-6)
    assert order.tolist() == [0, 1, 2, 3]
