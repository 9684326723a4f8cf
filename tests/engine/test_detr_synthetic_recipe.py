"""The DETR synthetic training run's config (``scripts/train_detr_synthetic.py``).

The sizes are mmdet's divided by 5, whatever the presets hold; while the DETR detectors or their
presets are missing the script refuses to start (exit 2, naming what is missing); once they are
in the checkout, the merged config builds and trains a few iterations with the DETR recipe
(RandomChoice in the pipeline, AdamW with the backbone at a tenth of the lr, clipping).
"""

import pytest
import torch

from scripts.train_detr_synthetic import RECIPES, main, recipe, registered, shrink_sizes, write_data
from visdet.build import registry
from visdet.config import load_config
from visdet.config.presets import is_preset


def test_every_pipeline_size_is_divided_by_five():
    pipeline = shrink_sizes(load_config("coco_detection_detr")["train_pipeline"])
    resize_only, resize_crop_resize = pipeline[3]["transforms"]
    assert resize_only[0]["scales"][0] == [96, 267] and resize_only[0]["scales"][-1] == [160, 267]
    assert resize_crop_resize[0]["scales"] == [[80, 840], [100, 840], [120, 840]]
    assert resize_crop_resize[1]["crop_size"] == [77, 120] and resize_crop_resize[1]["allow_negative_crop"]
    test = shrink_sizes(load_config("coco_detection_detr")["test_pipeline"])
    assert test[1]["scale"] == [267, 160]


MODEL = "dino_4scale_r50"
READY = is_preset(MODEL) and "DINO" in registry("detector")


@pytest.mark.skipif(READY, reason="the DINO preset and detector are in this checkout")
def test_the_script_refuses_to_start_without_the_detector(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--model", MODEL, "--train-images", "2", "--val-images", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("train_detr_synthetic: ") and (MODEL in err or "'DINO'" in err)


@pytest.mark.skipif(not READY, reason="the DINO preset or detector is not in this checkout yet (issue 18)")
def test_a_small_dino_trains_a_few_iterations_with_the_recipe(tmp_path):
    from visdet.engine.config_runner import build_runner

    data = write_data(tmp_path / "shapes", train_images=8, val_images=2)
    cfg = recipe(data, tmp_path / "work", model=MODEL, epochs=1, batch_size=4)
    assert registered(cfg) is None and RECIPES[MODEL] == ("adamw_dino", "dino_12e")
    runner = build_runner(cfg)
    choice = runner.loop.loader.dataset.pipeline.transforms[3]
    assert type(choice).__name__ == "RandomChoice"
    assert isinstance(runner.optimizer, torch.optim.AdamW) and runner.grad_clip == 0.1
    lrs = {n: g["lr"] for g in runner.optimizer.param_groups for n in g["names"]}
    assert all(lr == pytest.approx(1e-5) for n, lr in lrs.items() if "backbone" in n)
    assert all(lr == pytest.approx(1e-4) for n, lr in lrs.items() if "backbone" not in n)
    torch.set_num_threads(1)
    runner.train()
    assert runner.iter == 2
