import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visdet.config import ConfigError, list_presets, load_config, load_config_tree, merge


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_base_list_merges_in_order_and_child_overrides(tmp_path):
    write(tmp_path / "bases/a.yaml", "model: {x: 1, nested: {p: 1, q: 2}}\nlr: 0.1\n")
    write(tmp_path / "bases/b.yaml", "model: {nested: {q: 3}}\nlr: 0.2\n")
    child = write(tmp_path / "cfg/child.yaml", """\
        _base_: [../bases/a.yaml, ../bases/b.yaml]
        model: {nested: {r: 4}}
        """)
    cfg = load_config(child)
    assert cfg == {"model": {"x": 1, "nested": {"p": 1, "q": 3, "r": 4}}, "lr": 0.2}


def test_single_base_string_and_delete_replaces_subtree(tmp_path):
    write(tmp_path / "base.yaml", "model: {backbone: {type: A, depth: 50, extra: 1}, neck: {c: 1}}\n")
    child = write(tmp_path / "child.yaml", """\
        _base_: base.yaml
        model:
          backbone: {_delete_: true, type: B, width: 2}
        """)
    cfg = load_config(child)
    assert cfg["model"]["backbone"] == {"type": "B", "width": 2}
    assert cfg["model"]["neck"] == {"c": 1}


def test_lists_replace_instead_of_merging(tmp_path):
    write(tmp_path / "base.yaml", "steps: [1, 2, 3]\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\nsteps: [9]\n")
    assert load_config(child)["steps"] == [9]


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = write(tmp_path / "bad.yaml", "model:\n  depth: 50\n  neck: [1, 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    message = str(err.value)
    assert "YAML syntax error" in message
    assert f"{bad}:" in message
    # the line/column reported is where the parser gave up, inside the file
    line, column = (int(x) for x in message.split(f"{bad}:")[1].split(":")[:2])
    assert 3 <= line <= 4 and column >= 1


def test_syntax_error_in_a_base_names_the_base(tmp_path):
    write(tmp_path / "base.yaml", "a: {b: 1\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\n")
    with pytest.raises(ConfigError, match=r"base\.yaml:\d+:\d+: YAML syntax error"):
        load_config(child)


def test_base_cycle_names_the_chain(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: c.yaml\n")
    write(tmp_path / "c.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle") as err:
        load_config(tmp_path / "a.yaml")
    chain = str(err.value).split("cycle: ")[1].split(" -> ")
    assert [p.rsplit("/", 1)[1] for p in chain] == ["a.yaml", "b.yaml", "c.yaml", "a.yaml"]


def test_self_inclusion_is_a_cycle(tmp_path):
    write(tmp_path / "a.yaml", "_base_: ./a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_missing_base_names_the_file_and_who_asked(tmp_path):
    child = write(tmp_path / "child.yaml", "_base_: [missing/base.yaml]\n")
    with pytest.raises(ConfigError, match="not found") as err:
        load_config(child)
    assert "missing/base.yaml" in str(err.value) and "child.yaml" in str(err.value)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path / "list.yaml", "- 1\n- 2\n"))
    assert load_config(write(tmp_path / "empty.yaml", "")) == {}


def test_bad_base_value_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="_base_ must be"):
        load_config(write(tmp_path / "c.yaml", "_base_: {a: 1}\n"))


def test_presets_are_listed_and_loadable_by_short_or_group_name():
    presets = list_presets()
    for name in ("models/faster_rcnn_r50_fpn", "datasets/coco_detection", "optimizers/sgd",
                 "optimizers/adamw", "schedules/1x", "schedules/1cycle"):
        assert name in presets
        short = name.split("/")[1]
        assert load_config(short) == load_config(name) != {}


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="unknown preset 'faster_rcnn_r51'") as err:
        load_config("faster_rcnn_r51")
    assert all(name in str(err.value) for name in list_presets())


def test_yaml_can_inherit_presets_and_records_the_tree(tmp_path):
    child = write(tmp_path / "exp.yaml", """\
        _base_: [faster_rcnn_r50_fpn, coco_detection, sgd, 1x]
        model: {roi_head: {bbox_head: {num_classes: 3}}}
        optim_wrapper: {optimizer: {lr: 0.01}}
        """)
    node = load_config_tree(child)
    assert [base.source for base in node.bases] == [
        "preset:models/faster_rcnn_r50_fpn", "preset:datasets/coco_detection",
        "preset:optimizers/sgd", "preset:schedules/1x"]
    cfg = node.config
    assert cfg["model"]["roi_head"]["bbox_head"]["num_classes"] == 3
    assert cfg["model"]["roi_head"]["bbox_head"]["fc_out_channels"] == 1024
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001}
    assert cfg["train_cfg"]["max_epochs"] == 12
    assert "exp.yaml" in node.render().splitlines()[0]


def test_missing_config_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/config.yaml")


json_values = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.none()),
    lambda children: st.dictionaries(st.sampled_from("abcd"), children, max_size=3),
    max_leaves=10,
)
configs = st.dictionaries(st.sampled_from("abcd"), json_values, max_size=4)


@settings(max_examples=50, deadline=None)
@given(configs, configs)
def test_merge_properties(base, override):
    out = merge(base, override)
    assert merge(out, override) == out  # applying the same override again changes nothing
    for key, value in override.items():
        if not isinstance(value, dict) or not isinstance(base.get(key), dict):
            assert out[key] == value
    for key, value in base.items():
        if key not in override:
            assert out[key] == value
    assert merge({}, out) == out and merge(out, {}) == out
