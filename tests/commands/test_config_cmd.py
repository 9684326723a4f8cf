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


def test_show_defaults_fills_in_the_schemas_and_routes_the_settings(tmp_path, capsys):
    import yaml

    cfg = tmp_path / "exp.yaml"
    cfg.write_text("_base_: [faster_rcnn_r50_fpn, sgd, 1x]\n")
    assert main(["config", "show", str(cfg), "--defaults"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    model = shown["model"]
    assert "train_cfg" not in model and "test_cfg" not in model  # now on the heads that use them
    assert model["roi_head"]["test_cfg"] == {"score_thr": 0.05, "nms": {"type": "nms", "iou_threshold": 0.5},
                                             "max_per_img": 100}  # fmt: skip
    assert model["rpn_head"]["rpn_proposal"]["nms_pre"] == 2000
    assert model["backbone"]["base_channels"] == 64 and model["backbone"]["zero_init_residual"] is True  # defaults
    assert shown["default_hooks"]["logger"] == {"type": "LoggerHook", "interval": 50, "ignore_last": True,
                                                "log_metric_by_epoch": True}  # fmt: skip
    assert shown["optim_wrapper"]["optimizer"]["nesterov"] is False


def test_validate_names_where_routed_settings_were_written(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("_base_: faster_rcnn_r50_fpn\nmodel: {test_cfg: {rcnn: {scor_thr: 0.1}}}\n")
    assert main(["config", "validate", str(cfg)]) == 2
    assert "model.test_cfg.rcnn.scor_thr: unknown key; did you mean 'score_thr'?" in capsys.readouterr().err
