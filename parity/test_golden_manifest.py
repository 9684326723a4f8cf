"""The golden folder as a whole: every file listed, unchanged, and written by the reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from parity.cases import load_all
from parity.golden import (
    DATA_GOLDENS,
    GOLDEN_DIR,
    GoldenError,
    load_golden,
    main,
    read_manifest,
    verify_all,
    verify_file,
)


def test_every_golden_matches_manifest() -> None:
    problems = verify_all()
    assert not problems, "\n".join(problems)


def test_manifest_records_provenance() -> None:
    manifest = read_manifest()
    assert manifest["files"], "golden/MANIFEST.json lists no files"
    for rel, entry in manifest["files"].items():
        versions = entry["versions"]
        assert versions["mmdet"] == "3.3.0", rel
        assert versions["mmcv"] == "2.1.0", rel
        assert versions["mmengine"] == "0.10.7", rel
        assert versions["torch"].startswith("2.13.0"), rel
        assert len(entry["sha256"]) == 64 and entry["generated"], rel
        if entry.get("kind") == "data":  # a record such as the reference's signatures, not a case
            assert rel in DATA_GOLDENS and entry["writer"] == DATA_GOLDENS[rel], rel
            continue
        assert entry["case"]["seed"] == entry["seed"], rel
        assert entry["dtype"] == entry["case"]["dtype"] in ("float32", "float64"), rel
        machine = entry["machine"]
        assert machine["threads"] >= 1 and machine["cpu_capability"] and machine["cpu"], rel


def test_goldens_say_the_reference_wrote_them() -> None:
    from safetensors import safe_open

    for rel in read_manifest()["files"]:
        if rel in DATA_GOLDENS:
            assert json.loads((GOLDEN_DIR / rel).read_text())["writer"] == "reference", rel
            continue
        with safe_open(str(GOLDEN_DIR / rel), framework="pt") as handle:
            meta = handle.metadata()
        assert meta["writer"] == "reference" and meta["mmcv"] == "2.1.0", rel


@pytest.fixture
def golden_copy(tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the golden folder and the relative path of one of its files."""
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, copy, ignore=shutil.ignore_patterns(".manifest.lock"))
    rel = sorted(read_manifest(copy)["files"])[0]
    return copy, rel


def test_tampered_golden_fails_naming_the_file(golden_copy: tuple[Path, str]) -> None:
    copy, rel = golden_copy
    path = copy / rel
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # flip one bit of the last tensor byte
    path.write_bytes(bytes(data))
    problems = verify_all(copy)
    assert len(problems) == 1 and f"golden/{rel}" in problems[0] and "sha256" in problems[0]
    case = next(c for c in load_all().values() if c.golden_relpath == rel)
    with pytest.raises(GoldenError, match="was changed"):
        load_golden(case, copy)


def test_missing_and_unlisted_goldens_fail(golden_copy: tuple[Path, str]) -> None:
    copy, rel = golden_copy
    moved = copy / "stray" / "extra.safetensors"
    moved.parent.mkdir()
    shutil.move(copy / rel, moved)
    problems = verify_all(copy)
    assert any(f"golden/{rel}: listed in MANIFEST.json but the file is missing" in p for p in problems)
    assert any("golden/stray/extra.safetensors: file is not listed" in p for p in problems)


def test_changed_case_definition_is_stale(golden_copy: tuple[Path, str]) -> None:
    copy, rel = golden_copy
    manifest = json.loads((copy / "MANIFEST.json").read_text())
    manifest["files"][rel]["case"]["params"] = {"changed": True}
    (copy / "MANIFEST.json").write_text(json.dumps(manifest))
    case = next(c for c in load_all().values() if c.golden_relpath == rel)
    with pytest.raises(GoldenError, match="case definition changed"):
        verify_file(case, copy)


def test_verify_command_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 0
    assert "golden files match" in capsys.readouterr().out


def test_generate_refuses_without_reference(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import parity.golden as golden

    def no_reference() -> dict[str, str]:
        raise ImportError("No module named 'mmcv'")

    monkeypatch.setattr(golden, "reference_versions", no_reference)
    assert main(["generate", "--only", "ops"]) == 2
    assert "reference environment" in capsys.readouterr().err


def test_detector_golden_spans_labels_and_scores() -> None:
    """The whole-detector golden compares predictions of several classes over a wide score range."""
    case = load_all()["models/detectors/faster_rcnn/predict_rescale"]
    reference = load_golden(case).reference
    labels = torch.cat([reference[f"pred.{i}.labels"] for i in range(2)])
    scores = torch.cat([reference[f"pred.{i}.scores"] for i in range(2)])
    assert len(labels.unique()) >= 4, labels.unique()
    assert float(scores.max() - scores.min()) > 0.5, (float(scores.min()), float(scores.max()))


def test_rederive_accepts_equal_goldens_and_names_a_changed_result(golden_copy: tuple[Path, str]) -> None:
    from safetensors.torch import load_file, save_file

    from parity.golden import rederive

    copy, _ = golden_copy
    assert rederive(copy) == []
    rel = "models/necks/fpn/upsample_scale_factor.safetensors"
    tensors = load_file(str(copy / rel))
    key = next(k for k in sorted(tensors) if k.startswith("ref.out."))
    tensors[key] = tensors[key] * (1 + 1e-6)  # far inside float32 noise, far outside float64's tolerance
    save_file(tensors, str(copy / rel))
    problems = rederive(copy)
    assert len(problems) == 1 and problems[0].startswith(f"golden/{rel}: the reference now writes other results")
    assert key.removeprefix("ref.") in problems[0]


def test_changed_or_missing_data_golden_fails(golden_copy: tuple[Path, str]) -> None:
    copy, _ = golden_copy
    rel = "defaults/signatures.json"
    path = copy / rel
    path.write_text(path.read_text().replace('"target_stds"', '"target_std"', 1))
    problems = verify_all(copy)
    assert len(problems) == 1 and problems[0].startswith(f"golden/{rel}: sha256"), problems
    path.unlink()
    assert any(f"golden/{rel}: listed in MANIFEST.json but the file is missing" in p for p in verify_all(copy))
