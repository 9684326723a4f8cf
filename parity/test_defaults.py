"""Defaults parity: every mirrored component's parameters and defaults equal the reference's.

The reference's signatures are the golden ``golden/defaults/signatures.json`` (written by
``python -m parity.golden generate --only defaults`` in the reference environment); the
deliberate differences are listed with their reasons in ``parity/defaults_differences.yaml``.
See :mod:`parity.defaults`.
"""

from __future__ import annotations

import copy

import pytest

from parity import defaults
from parity.defaults import REQUIRED, TABLE, check, read_golden, registered
from parity.reference import reference_missing

GOLDEN = read_golden()
LISTED = defaults.load_listed()


def test_every_registered_type_has_a_table_entry() -> None:
    registry_keys = set(registered())
    missing = sorted(registry_keys - set(TABLE))
    assert not missing, f"registered on visdet.build without an entry in parity.defaults.TABLE: {missing}"
    stale = sorted(k for k in TABLE if not k.startswith(("function/", "class/")) and k not in registry_keys)
    assert not stale, f"TABLE entries that are not registered types: {stale}"


def test_golden_was_written_by_the_reference_for_every_entry() -> None:
    assert GOLDEN["writer"] == "reference" and GOLDEN["versions"]["mmdet"] == "3.3.0"
    wanted = {e.reference for e in TABLE.values() if e.reference}
    assert wanted - set(GOLDEN["signatures"]) == set(), "regenerate: python -m parity.golden generate --only defaults"
    empty = sorted(name for name in wanted if not GOLDEN["signatures"][name]["parameters"])
    # hooks without arguments; anything else with no parameter means the reading went wrong
    assert all(name.startswith("mmengine.hooks.") for name in empty), empty
    coder = GOLDEN["signatures"]["mmdet.models.task_modules.coders.delta_xywh_bbox_coder.DeltaXYWHBBoxCoder"]
    assert {"name": "target_stds", "kind": "POSITIONAL_OR_KEYWORD", "default": [1.0, 1.0, 1.0, 1.0],
            "owner": "mmdet.models.task_modules.coders.delta_xywh_bbox_coder.DeltaXYWHBBoxCoder"} in coder["parameters"]


def test_listed_differences_name_table_entries() -> None:
    unknown = sorted(set(LISTED["components"]) - set(TABLE))
    assert not unknown, f"{defaults.DIFFERENCES.name} lists components that are not in the table: {unknown}"


@pytest.mark.parametrize("key", sorted(TABLE))
def test_defaults_equal_the_reference(key: str) -> None:
    problems = check(key, GOLDEN["signatures"], LISTED)
    assert not problems, "\n".join(problems)


def _reference_default(qualname: str, param: str) -> object:
    params = GOLDEN["signatures"][qualname]["parameters"]
    return next(p["default"] for p in params if p["name"] == param)


def test_rtmdet_ins_head_fallback_mask_loss_is_the_reference_default() -> None:
    """A Python caller who leaves ``loss_mask=None`` gets mmdet's default Dice loss.

    The class takes built losses (its schema default is checked by the table above); this
    is the object it builds itself when none is given.
    """
    from visdet.build import build_component
    from visdet.models.dense_heads.rtmdet_ins_head import RTMDetInsHead

    head = RTMDetInsHead(
        num_classes=2, in_channels=4, feat_channels=4, stacked_convs=1, norm_cfg=None,
        anchor_generator=build_component("prior_generator", {"type": "MlvlPointGenerator", "strides": [8]}),
        bbox_coder=build_component("bbox_coder", {"type": "DistancePointBBoxCoder"}),
        loss_cls=build_component("loss", {"type": "QualityFocalLoss"}),
        loss_bbox=build_component("loss", {"type": "GIoULoss"}),
    )  # fmt: skip
    wanted = _reference_default("mmdet.models.dense_heads.rtmdet_ins_head.RTMDetInsHead", "loss_mask")
    assert wanted["type"] == "DiceLoss"
    dice_params = GOLDEN["signatures"]["mmdet.models.losses.dice_loss.DiceLoss"]["parameters"]
    dice = {p["name"]: p["default"] for p in dice_params}
    expected = {**dice, **{k: v for k, v in wanted.items() if k != "type"}}
    got = {name: getattr(head.loss_mask, name) for name in expected}
    assert type(head.loss_mask).__name__ == "DiceLoss" and got == expected


def test_soft_nms_config_defaults_are_mmcv_soft_nms_defaults() -> None:
    """A ``type='soft_nms'`` nms_cfg that omits a key gets mmcv's ``soft_nms`` default for it.

    mmcv's ``batched_nms`` passes only the keys the config writes, so the op's own defaults
    apply; visdet unpacks the config into ``NMSOptions``, whose defaults must be the same.
    """
    from visdet.ops.nms_options import NMSOptions

    options = NMSOptions.from_mmcv({"type": "soft_nms"})
    for name in ("iou_threshold", "sigma", "min_score", "method", "offset"):
        assert getattr(options, name) == _reference_default("mmcv.ops.nms.soft_nms", name), name
    assert options.soft


@pytest.mark.parametrize("name", sorted(defaults.CONSTANTS))
def test_architecture_tables_equal_the_reference(name: str) -> None:
    ours = defaults.encode_arch_settings(defaults.resolve(defaults.CONSTANTS[name]))
    assert ours == GOLDEN["constants"][name]


# ---------------------------------------------------------------- the check itself
def _changed_golden(reference: str, param: str, value: object) -> dict:
    signatures = copy.deepcopy(GOLDEN["signatures"])
    for p in signatures[reference]["parameters"]:
        if p["name"] == param:
            p["default"] = value
            return signatures
    raise AssertionError(f"{reference} has no parameter {param}")


def test_an_unlisted_default_difference_fails() -> None:
    key = "bbox_coder/DeltaXYWHBBoxCoder"
    signatures = _changed_golden(TABLE[key].reference, "target_stds", [0.1, 0.1, 0.2, 0.2])
    problems = check(key, signatures, LISTED)
    assert any("target_stds" in p and "unlisted" in p for p in problems), problems
    assert {p.split(" (")[1].split(")")[0] for p in problems if "target_stds" in p} == {"schema", "class"}


def test_a_parameter_missing_in_visdet_fails() -> None:
    key = "function/soft_nms"
    signatures = copy.deepcopy(GOLDEN["signatures"])
    signatures[TABLE[key].reference]["parameters"].append(
        {"name": "new_keyword", "kind": "POSITIONAL_OR_KEYWORD", "default": 1, "owner": "x"}
    )
    problems = check(key, signatures, LISTED)
    assert problems == [f"unlisted difference: {key} (function) new_keyword: missing "
                        "(the reference has it, visdet does not)"]  # fmt: skip


def test_a_listed_difference_that_no_longer_occurs_fails() -> None:
    listed = copy.deepcopy(LISTED)
    listed["components"]["function/nms"] = [{"param": "offset", "what": "default", "reason": "test"}]
    problems = check("function/nms", GOLDEN["signatures"], listed)
    assert len(problems) == 1 and "no longer occurs" in problems[0]


def test_required_versus_default_is_a_difference() -> None:
    key = "function/roi_align"
    signatures = _changed_golden(TABLE[key].reference, "spatial_scale", REQUIRED)
    assert any("spatial_scale" in p for p in check(key, signatures, LISTED))


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [((1, 2), [1, 2], True), (1, 1.0, True), (True, 1, False), (1 / 9, 0.111, False),
     ({"type": "L1Loss", "loss_weight": 1.0}, {"type": "L1Loss"}, False), (None, REQUIRED, False)],
)  # fmt: skip
def test_value_comparison(a: object, b: object, equal: bool) -> None:
    assert defaults.same(defaults.encode(a), defaults.encode(b)) is equal


# ---------------------------------------------------------------- live (reference environment)
live = pytest.mark.skipif(reference_missing() is not None, reason=str(reference_missing()))


@live
def test_golden_equals_the_live_reference() -> None:
    fresh = defaults.reference_record()
    assert fresh["signatures"] == GOLDEN["signatures"], "the reference's signatures changed: regenerate the golden"


@live
def test_table_names_what_mmdet_builds_from_the_config_type() -> None:
    import mmdet.registry as regs
    import mmdet.utils
    from mmengine.registry import Registry

    mmdet.utils.register_all_modules()
    registries = [getattr(regs, n) for n in dir(regs) if isinstance(getattr(regs, n), Registry)]
    wrong = []
    for key, entry in TABLE.items():
        if key.startswith(("function/", "class/")) or entry.reference is None:
            continue
        name = key.split("/", 1)[1]
        if key.startswith("roi_layer/"):  # mmdet's BaseRoIExtractor takes the layer from mmcv.ops by name
            import mmcv.ops

            classes = [getattr(mmcv.ops, name, None)]
        elif key.startswith(("transformer_layer/", "transformer/")):  # unregistered in mmdet: built by class
            from mmdet.models.layers.transformer import deformable_detr_layers, dino_layers

            classes = [getattr(deformable_detr_layers, name, None), getattr(dino_layers, name, None)]
        else:
            classes = [r.get(name) for r in registries]
        found = {f"{c.__module__}.{c.__qualname__}" for c in classes if c is not None}
        if entry.reference not in found:
            wrong.append(f"{key}: mmdet builds {sorted(found)}, the table says {entry.reference}")
    assert not wrong, "\n".join(wrong)
