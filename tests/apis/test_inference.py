import numpy as np
import pytest
import torch

from visdet import build_detector, inference_detector, init_detector, load_checkpoint
from visdet.build import build_pipeline
from visdet.config import ConfigError
from visdet.data.transforms import Compose

from .conftest import scene


def test_init_detector_loads_checkpoint_and_attaches_config(tiny_config, tiny_checkpoint):
    model = init_detector(tiny_config, tiny_checkpoint, fuse=False)
    assert not model.training
    saved = torch.load(tiny_checkpoint, weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert model.cfg["model"]["roi_head"]["bbox_head"]["num_classes"] == 3
    assert model.dataset_meta["classes"] == ("class_0", "class_1", "class_2")


def test_class_names_come_from_the_checkpoint_meta(tiny_config, tiny_checkpoint, tmp_path):
    saved = torch.load(tiny_checkpoint, weights_only=True)
    saved["meta"] = {"dataset_meta": {"classes": ["cat", "dog", "bird"]}}
    path = tmp_path / "named.pth"
    torch.save(saved, path)
    assert load_checkpoint(build_detector(tiny_config), path).meta["dataset_meta"]["classes"] == ["cat", "dog", "bird"]
    assert init_detector(tiny_config, path).dataset_meta["classes"] == ("cat", "dog", "bird")
    # names that do not fit the model's class count are not used
    saved["meta"] = {"dataset_meta": {"classes": ["cat"]}}
    torch.save(saved, path)
    assert init_detector(tiny_config, path).dataset_meta["classes"] == ("class_0", "class_1", "class_2")


def test_coco_sized_model_gets_coco_class_names():
    model = init_detector("faster_rcnn_r50_fpn")
    assert len(model.dataset_meta["classes"]) == 80 and model.dataset_meta["classes"][0] == "person"


def test_inference_matches_manual_pipeline_preprocess_and_predict(tiny_config, tiny_checkpoint, scene_file):
    model = init_detector(tiny_config, tiny_checkpoint)
    result = inference_detector(model, scene_file)
    # the same steps by hand: the config's test pipeline, the preprocessor, predict
    packed = Compose(build_pipeline(model.cfg["test_pipeline"]))({"img_path": scene_file, "img_id": 0})
    batch, metas = model.data_preprocessor([packed["inputs"]], [packed["data_samples"].metainfo])
    with torch.no_grad():
        expected = model.predict(batch, metas, rescale=True)[0]
    assert len(result) > 0
    for field in ("bboxes", "scores", "labels"):
        assert torch.equal(getattr(result, field), getattr(expected, field))


def test_results_are_in_original_image_coordinates(tiny_config, tiny_checkpoint):
    model = init_detector(tiny_config, tiny_checkpoint)
    image = scene(240, 320)  # the pipeline resizes it to fit 96x64
    result = inference_detector(model, image)
    packed = Compose(build_pipeline(model.cfg["test_pipeline"][1:]))(
        {"img": image, "img_shape": image.shape[:2], "ori_shape": image.shape[:2]})
    batch, metas = model.data_preprocessor([packed["inputs"]], [packed["data_samples"].metainfo])
    with torch.no_grad():
        resized = model.predict(batch, metas, rescale=False)[0]
    w_scale, h_scale = metas[0]["scale_factor"]
    assert w_scale < 1 and h_scale < 1
    expected = resized.bboxes / torch.tensor([w_scale, h_scale, w_scale, h_scale])
    torch.testing.assert_close(result.bboxes, expected)
    assert float(result.bboxes[:, 2].max()) <= 320 and float(result.bboxes[:, 3].max()) <= 240


def test_paths_arrays_lists_and_batches_agree(tiny_config, tiny_checkpoint, tmp_path):
    import cv2

    model = init_detector(tiny_config, tiny_checkpoint)
    images = [scene(seed=0), scene(100, 130, seed=1)]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], image)
    singles = [inference_detector(model, image) for image in images]
    from_paths = inference_detector(model, paths)
    batched = inference_detector(model, images, batch_size=2)
    assert isinstance(from_paths, list) and len(from_paths) == 2
    for single, by_path, in_batch in zip(singles, from_paths, batched):
        assert torch.equal(single.bboxes, by_path.bboxes)
        assert torch.equal(single.labels, in_batch.labels)
        torch.testing.assert_close(single.bboxes, in_batch.bboxes, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(single.scores, in_batch.scores, atol=1e-5, rtol=1e-5)


def test_cfg_options_override_with_dotted_keys(tiny_config):
    model = init_detector(tiny_config, cfg_options={"model.roi_head.bbox_head.num_classes": 5})
    assert model.roi_head.bbox_head.num_classes == 5


def test_build_detector_accepts_every_config_kind(tiny_config):
    from visdet.config import load_config

    by_path = build_detector(tiny_config)
    whole = load_config(tiny_config)
    by_dict = build_detector(whole)
    by_model_dict = build_detector(whole["model"])
    keys = {k: v.shape for k, v in by_path.state_dict().items()}
    assert keys == {k: v.shape for k, v in by_dict.state_dict().items()}
    assert keys == {k: v.shape for k, v in by_model_dict.state_dict().items()}
    preset = build_detector("faster_rcnn_r50_fpn")
    assert preset.backbone.layer4[2].conv3.weight.shape == (2048, 512, 1, 1)


def test_build_detector_reports_config_paths(tiny_config):
    from visdet.config import load_config

    cfg = load_config(tiny_config)
    cfg["model"]["neck"]["num_out"] = 5
    with pytest.raises(ConfigError, match="model.neck.num_out: unknown key; did you mean 'num_outs'"):
        build_detector(cfg)


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="unknown detector preset 'faster_rcnn_r5'") as err:
        build_detector("faster_rcnn_r5")
    assert "faster_rcnn_r50_fpn" in str(err.value)


def test_wrong_config_type():
    with pytest.raises(TypeError):
        init_detector(["config.py"])


def test_missing_checkpoint(tiny_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        init_detector(tiny_config, tmp_path / "missing.pth")


def test_file_that_is_not_a_checkpoint(tiny_config, tmp_path):
    path = tmp_path / "not_a_checkpoint.pth"
    path.write_bytes(b"these are not weights")
    with pytest.raises(ValueError, match="cannot load checkpoint .*not a PyTorch checkpoint"):
        init_detector(tiny_config, path)


def test_checkpoint_of_another_model(tiny_config, tiny_checkpoint):
    with pytest.raises(ValueError, match="cannot load checkpoint .*shape mismatch"):
        init_detector({"_base_": None, **__import__("visdet").config.load_config("faster_rcnn_r50_fpn")},
                      tiny_checkpoint)


def test_unreadable_images(tiny_config, tmp_path):
    model = init_detector(tiny_config)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        inference_detector(model, str(broken))
    with pytest.raises(FileNotFoundError, match="image file not found"):
        inference_detector(model, str(tmp_path / "missing.jpg"))
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        inference_detector(model, np.zeros((10, 10), np.uint8))
    with pytest.raises(TypeError, match="file path or a numpy array"):
        inference_detector(model, [3])


def test_loaded_weights_equal_load_checkpoint(tiny_config, tiny_checkpoint):
    model = build_detector(tiny_config)
    load_checkpoint(model, tiny_checkpoint)
    other = init_detector(tiny_config, tiny_checkpoint, fuse=False)
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
