import json

import cv2
import numpy as np
import pytest
import torch

from visdet import inference_detector, init_detector
from visdet.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr()


def test_predict_writes_json_and_drawn_images(tmp_path, capsys, tiny_config, tiny_checkpoint, scene_file):
    second = tmp_path / "other" / "scene.png"  # same file name, different folder
    second.parent.mkdir()
    cv2.imwrite(str(second), cv2.flip(cv2.imread(scene_file), 1))
    out = tmp_path / "out"
    code, captured = run(capsys, "predict", scene_file, str(second), "--config", tiny_config,
                         "--checkpoint", tiny_checkpoint, "--out", str(out), "--score-thr", "0.3")
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["scene.json", "scene.png", "scene_2.json", "scene_2.png"]
    assert "2/2" in captured.err  # the progress bar reached the end

    record = json.loads((out / "scene.json").read_text())
    model = init_detector(tiny_config, tiny_checkpoint)
    expected = inference_detector(model, scene_file)
    keep = expected.scores >= 0.3
    assert record["height"] == 120 and record["width"] == 160
    assert len(record["detections"]) == int(keep.sum()) > 0
    got_boxes = torch.tensor([d["bbox"] for d in record["detections"]])
    torch.testing.assert_close(got_boxes, expected.bboxes[keep], atol=0.01, rtol=0)
    assert [d["class"] for d in record["detections"]] == [f"class_{int(i)}" for i in expected.labels[keep]]

    drawn = cv2.imread(str(out / "scene.png"))
    original = cv2.imread(scene_file)
    assert drawn.shape == original.shape
    changed = np.any(drawn != original, axis=2)
    x1, y1, x2, y2 = (int(round(v)) for v in record["detections"][0]["bbox"])
    # the first box's outline is drawn: its left edge differs from the input picture
    assert changed[max(y1, 0):min(y2, 119) + 1, min(max(x1, 0), 159)].mean() > 0.5


@pytest.mark.parametrize("case", ["missing_checkpoint", "not_checkpoint", "bad_image", "missing_image",
                                  "unknown_preset", "bad_threshold"])
def test_predict_bad_input_is_one_line_and_exit_2(tmp_path, capsys, tiny_config, tiny_checkpoint, scene_file, case):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    argv = {"image": scene_file, "config": tiny_config, "checkpoint": tiny_checkpoint, "thr": "0.3"}
    expected = {
        "missing_checkpoint": ("checkpoint", str(tmp_path / "none.pth"), "does not exist"),
        "not_checkpoint": ("checkpoint", str(junk), "not a PyTorch checkpoint"),
        "bad_image": ("image", str(junk), "cannot read image"),
        "missing_image": ("image", str(tmp_path / "none.jpg"), "image file not found"),
        "unknown_preset": ("config", "faster_rcnn_r5", "unknown detector preset"),
        "bad_threshold": ("thr", "1.5", "--score-thr"),
    }[case]
    argv[expected[0]] = expected[1]
    code, captured = run(capsys, "predict", argv["image"], "--config", argv["config"], "--checkpoint",
                         argv["checkpoint"], "--out", str(tmp_path / "out"), "--score-thr", argv["thr"])
    assert code == 2
    lines = [line for line in captured.err.splitlines() if line.startswith("visdet predict: error:")]
    assert len(lines) == 1 and expected[2] in lines[0]
    assert "Traceback" not in captured.err


def test_predict_compile_gives_the_fused_detections(tmp_path, capsys, tiny_config, tiny_checkpoint, scene_file):
    from visdet.models.compile import missing_toolchain

    if missing_toolchain():
        pytest.skip(missing_toolchain())
    records = {}
    for flags in ((), ("--compile",)):
        out = tmp_path / ("compiled" if flags else "fused")
        code, captured = run(capsys, "predict", scene_file, "--config", tiny_config, "--checkpoint", tiny_checkpoint,
                             "--out", str(out), "--score-thr", "0.3", *flags)
        assert code == 0, captured.err
        records[flags] = json.loads((out / "scene.json").read_text())["detections"]
    fused, compiled = records[()], records[("--compile",)]
    assert len(compiled) == len(fused) > 0
    # the JSON rounds boxes to 0.01 px and scores to 1e-5; compiling changes them by float32 rounding
    for got, want in zip(compiled, fused):
        assert got["label"] == want["label"]
        assert max(abs(a - b) for a, b in zip(got["bbox"], want["bbox"])) <= 0.011
        assert abs(got["score"] - want["score"]) <= 2e-5


def test_predict_compile_refuses_no_fuse(tmp_path, capsys, tiny_config, tiny_checkpoint, scene_file):
    code, captured = run(capsys, "predict", scene_file, "--config", tiny_config, "--checkpoint", tiny_checkpoint,
                         "--out", str(tmp_path / "out"), "--compile", "--no-fuse")
    assert code == 2
    assert "--compile" in captured.err and "--no-fuse" in captured.err and "Traceback" not in captured.err
