"""The model zoo table (mmdet 3.3's released checkpoints) and ``pretrained=True``, with a server on 127.0.0.1."""

import importlib.util
import io
import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.http_server import hashed_name, local_server
from visdet.config import list_presets
from visdet.config.errors import ConfigError
from visdet.config.model_zoo import model_zoo, zoo_entry
from visdet.download import DownloadError, expected_hash

TINY = Path(__file__).parents[1] / "apis" / "tiny_faster_rcnn.yaml"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISDET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISDET_OFFLINE", raising=False)
    monkeypatch.delenv("VISDET_MODEL_ZOO", raising=False)
    monkeypatch.delenv("VISDET_ZOO_BASE", raising=False)
    return tmp_path / "home" / "checkpoints"


def test_every_model_preset_has_a_released_checkpoint_with_a_hash(cache):
    zoo = model_zoo()
    presets = {name.split("/", 1)[1] for name in list_presets() if name.startswith("models/")}
    assert set(zoo) == presets
    for entry in zoo.values():
        assert entry.url.startswith(
            ("https://download.openmmlab.com/mmdetection/v2.0/", "https://download.openmmlab.com/mmdetection/v3.0/")
        )
        assert expected_hash(entry.url) is not None, entry.url  # every download is verified
    # as published in mmdet 3.3's configs/faster_rcnn/metafile.yml
    faster = zoo_entry("faster_rcnn_r50_fpn")
    assert faster.box_ap == 37.4 and faster.mask_ap is None
    assert faster.url.endswith("faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth")
    assert zoo_entry("models/mask_rcnn_r50_fpn").mask_ap == 34.7


def test_unknown_preset_is_a_clear_error(cache):
    with pytest.raises(ConfigError, match="no released mmdet checkpoint is known for 'yolo'.*faster_rcnn_r50_fpn"):
        zoo_entry("yolo")


@pytest.mark.skipif(importlib.util.find_spec("mmdet") is None, reason="needs mmdet 3.3's metafiles (reference env)")
def test_table_equals_mmdet_metafiles(cache):
    configs = Path(importlib.util.find_spec("mmdet").origin).parent / ".mim" / "configs"
    for entry in model_zoo().values():
        folder = entry.mmdet_config.split("/")[1]
        models = yaml.safe_load((configs / folder / "metafile.yml").read_text())["Models"]
        (published,) = [m for m in models if m["Name"] == entry.mmdet_name]
        assert published["Config"] == entry.mmdet_config
        assert published["Weights"] == entry.url
        metrics = {k: v for result in published["Results"] for k, v in result["Metrics"].items()}
        assert metrics == entry.metrics


def test_zoo_base_override_and_hash_enforced(cache, monkeypatch):
    with local_server() as server:
        monkeypatch.setenv("VISDET_ZOO_BASE", server.base)
        entry = zoo_entry("faster_rcnn_r50_fpn")
        path = "/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth"
        assert entry.url == server.base + path
        server.routes[path] = (b"not the published checkpoint", "ok")
        with pytest.raises(DownloadError, match="hash mismatch.*047c8118"):
            from visdet import init_detector

            init_detector("faster_rcnn_r50_fpn", pretrained=True)


def test_init_detector_pretrained_downloads_the_zoo_checkpoint(cache, tmp_path, monkeypatch):
    from visdet import build_detector, init_detector

    overrides = {"model": yaml.safe_load(TINY.read_text())["model"]}  # the reduced widths, on the preset
    torch.manual_seed(5)
    source = build_detector(str(TINY))  # the same model: TINY is the preset with these overrides
    buffer = io.BytesIO()
    torch.save({"state_dict": source.state_dict()}, buffer)
    name = hashed_name("faster_rcnn_tiny", buffer.getvalue())
    table = tmp_path / "zoo.yaml"
    row = {"mmdet_name": "x", "mmdet_config": "configs/x/x.py", "metrics": {"box AP": 1.0}, "weights": f"zoo/{name}"}
    table.write_text(yaml.safe_dump({"base": "unused", "models": {"faster_rcnn_r50_fpn": row}}))
    with local_server() as server:
        server.serve(f"zoo/{name}", buffer.getvalue())
        monkeypatch.setenv("VISDET_MODEL_ZOO", str(table))
        monkeypatch.setenv("VISDET_ZOO_BASE", server.base)
        model = init_detector("faster_rcnn_r50_fpn", pretrained=True, cfg_options=overrides, fuse=False)
        assert len(server.requests) == 1
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(ValueError, match="not both"):
        init_detector("faster_rcnn_r50_fpn", "x.pth", pretrained=True)


def test_list_models_cli(cache, capsys):
    from visdet.cli import main

    assert main(["list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["preset", "box", "AP", "mask", "AP", "url"]
    (faster,) = [line for line in lines if line.startswith("faster_rcnn_r50_fpn ")]
    assert faster.split() == ["faster_rcnn_r50_fpn", "37.4", "-", zoo_entry("faster_rcnn_r50_fpn").url]
    (mask,) = [line for line in lines if line.startswith("mask_rcnn_r50_fpn ")]
    assert mask.split()[1:3] == ["38.2", "34.7"]
    assert main(["list-models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["preset"] for row in rows} >= {"faster_rcnn_r50_fpn", "rpn_r50_fpn"}
    assert [row for row in rows if row["preset"] == "rpn_r50_fpn"][0]["other_metrics"] == {"AR@1000": 58.2}
