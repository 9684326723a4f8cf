"""``visdet predict --config retinanet_r50_fpn``: the full-size RetinaNet preset from the command line."""

import json

import cv2
import torch

from tests.apis.conftest import scene
from visdet import build_detector, inference_detector, init_detector
from visdet.cli import main


def test_predict_with_the_retinanet_preset(tmp_path, capsys):
    # a wide picture: the test pipeline resizes it to 133 x 1333 (a fifth of 800 x 1067's pixels)
    scene_file = str(tmp_path / "scene.png")
    cv2.imwrite(scene_file, scene(height=40, width=400))
    torch.manual_seed(0)
    model = build_detector("retinanet_r50_fpn")
    # the classifier starts at the 0.01 prior, under the preset's score_thr of 0.05: a zero bias
    # puts the scores near 0.5 so that random weights give detections
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.zero_()
    checkpoint = tmp_path / "retinanet_random.pth"
    torch.save({"meta": {"note": "random weights"}, "state_dict": model.state_dict()}, checkpoint)
    out = tmp_path / "out"
    code = main(["predict", scene_file, "--config", "retinanet_r50_fpn", "--checkpoint", str(checkpoint),
                 "--out", str(out), "--score-thr", "0.0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert sorted(p.name for p in out.iterdir()) == ["scene.json", "scene.png"]

    record = json.loads((out / "scene.json").read_text())
    reference = init_detector("retinanet_r50_fpn", str(checkpoint))
    expected = inference_detector(reference, scene_file)
    assert record["height"] == 40 and record["width"] == 400
    assert len(record["detections"]) == len(expected) == 100  # the preset's max_per_img
    got_boxes = torch.tensor([d["bbox"] for d in record["detections"]])
    torch.testing.assert_close(got_boxes, expected.bboxes, atol=0.01, rtol=0)  # the JSON rounds to 0.01 px
    assert [d["label"] for d in record["detections"]] == expected.labels.tolist()
    names = reference.dataset_meta["classes"]
    assert len(names) == 80 and names[0] == "person"  # COCO's names for an 80-class model
    assert [d["class"] for d in record["detections"]] == [names[i] for i in expected.labels.tolist()]
