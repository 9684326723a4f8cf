"""``visdet export``: writes the file, checks it with onnxruntime, refuses what cannot export."""

import pytest

pytest.importorskip("onnxruntime")

from tests.apis.conftest import tiny_checkpoint, tiny_config  # noqa: E402,F401
from visdet.cli import main  # noqa: E402


def test_export_and_check(tiny_config, tiny_checkpoint, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "model.onnx"
    code = main(["export", tiny_config, tiny_checkpoint, "--out", str(out), "--shape", "64", "96",
                 "--check", "64", "96", "--check", "100", "70"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed
    assert out.is_file() and f"wrote {out}" in printed.err
    lines = printed.out.splitlines()
    assert len(lines) == 2 and all(line.endswith(": same") for line in lines), lines
    assert lines[1].startswith("100x70: eager ")


def test_export_refuses_mask_rcnn(tmp_path, capsys):
    from pathlib import Path

    config = str(Path(__file__).parents[1] / "apis" / "tiny_mask_rcnn.yaml")
    code = main(["export", config, "none", "--out", str(tmp_path / "m.onnx")])
    assert code == 2
    assert "visdet export: error: MaskRCNN cannot be exported to ONNX: roi_head has a mask branch" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "m.onnx").exists()
