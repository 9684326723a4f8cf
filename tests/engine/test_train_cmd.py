import json

import pytest
import yaml

from visdet.apis.simple_runner import SimpleRunner
from visdet.cli import main
from visdet.commands.train_cmd import parse_sets
from visdet.testing.coco_synth import write_coco_synth


def _config_file(tmp_path):
    from visdet.testing.tiny_models import faster_rcnn_config

    model = faster_rcnn_config(3)
    model["backbone"].update(depth=18, base_channels=4)
    model["neck"].update(in_channels=[4, 8, 16, 32], out_channels=8)
    model["rpn_head"].update(in_channels=8, feat_channels=8)
    model["roi_head"]["bbox_roi_extractor"]["out_channels"] = 8
    model["roi_head"]["bbox_head"].update(in_channels=8, fc_out_channels=16)
    model["train_cfg"]["rcnn"]["sampler"]["num"] = 32
    synth = write_coco_synth(tmp_path / "coco")
    dataset = {"train_ann": str(synth.ann_file), "train_images": str(synth.img_dir)}
    cfg = SimpleRunner(model=model, dataset=dataset, image_scale=(64, 48), num_workers=0).config
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg))))
    return path


def test_parse_sets():
    assert parse_sets(["a.b=1", "c=[1, 2]", "d=bf16", "e="]) == {"a.b": 1, "c": [1, 2], "d": "bf16", "e": None}
    with pytest.raises(ValueError, match="key=value"):
        parse_sets(["novalue"])


def test_train_command_runs_and_reports_bad_input(tmp_path, capsys):
    path = _config_file(tmp_path)
    work = tmp_path / "work"
    code = main(["train", str(path), "--work-dir", str(work), "--set", "train_cfg.max_epochs=1",
                 "--set", "visdet.progress=false", "--set", "randomness.seed=0"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (work / "latest.pth").is_file() and (work / "log.jsonl").exists()
    code = main(["train", str(path), "--work-dir", str(work), "--set", f"resume={tmp_path / 'gone.pth'}"])
    assert code == 2 and "gone.pth" in capsys.readouterr().err
    code = main(["train", str(path), "--work-dir", str(work), "--set", "train_dataloader.batch_size=64"])
    assert code == 2 and "larger than the training set" in capsys.readouterr().err


def test_train_validates_the_config_before_building_anything(tmp_path, capsys):
    path = _config_file(tmp_path)
    work = tmp_path / "never"
    code = main(["train", str(path), "--work-dir", str(work), "--set", "optim_wrapper.optimizer.momentun=0.9"])
    err = capsys.readouterr().err
    assert code == 2 and "optim_wrapper.optimizer.momentun: unknown key; did you mean 'momentum'?" in err
    assert str(path) in err and not work.exists()
    code = main(["train", str(path), "--work-dir", str(work), "--set", "visdet.precison=bf16"])
    assert code == 2 and "visdet.precison: unknown key; did you mean 'precision'?" in capsys.readouterr().err
    assert not work.exists()
