from visdet.cli import main
from visdet.config import list_presets


def test_list_prints_every_preset(capsys):
    assert main(["config", "list"]) == 0
    assert capsys.readouterr().out.split() == list_presets()


def test_show_preset_prints_tree_and_resolved_yaml(capsys):
    assert main(["config", "show", "faster_rcnn_r50_fpn"]) == 0
    out = capsys.readouterr().out
    assert "#   preset:models/faster_rcnn_r50_fpn" in out
    assert "type: FasterRCNN" in out and "depth: 50" in out


def test_show_yaml_with_bases(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("_base_: [faster_rcnn_r50_fpn, 1cycle]\nmodel: {backbone: {depth: 101}}\n")
    assert main(["config", "show", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "#     preset:models/faster_rcnn_r50_fpn\n#     preset:schedules/1cycle" in out
    assert "depth: 101" in out and "OneCycleLR" in out


def test_validate_reports_path_and_exit_2(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("_base_: faster_rcnn_r50_fpn\nmodel: {backbone: {depth: 51}}\n")
    assert main(["config", "validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("model.backbone.depth: 51 is not one of 18, 34, 50, 101, 152")
    assert err.count("\n") == 1
    assert main(["config", "validate", "sgd"]) == 0


def test_show_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    assert main(["config", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("visdet config show: error: ") and "YAML syntax error" in err and err.count("\n") == 1
