"""The tools behind the docs: the block extractor, the shell check, the generated pages."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown_blocks import markdown_blocks, misplaced_skips
from tests.docs.shell_check import check_shell_block, make_targets, visdet_commands

SAMPLE = """# Page

```python
a = 1
```

<!-- skip: needs mmdet -->
```python
import mmdet
```

1. A list item:

    ```bash
    make docs
    ```

--8<-- "inc.md:2"
"""


def test_blocks_in_order_with_lines_skips_indent_and_includes(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(SAMPLE)
    (tmp_path / "inc.md").write_text("# Included\n```yaml\nkey: 1\n```\n")
    blocks = markdown_blocks(tmp_path / "page.md", tmp_path)
    assert [(b.source, b.line, b.lang) for b in blocks] == [
        ("page.md", 4, "python"),
        ("page.md", 9, "python"),
        ("page.md", 15, "bash"),
        ("inc.md", 3, "yaml"),
    ]
    assert blocks[0].code == "a = 1\n" and blocks[0].skip is None
    assert blocks[1].skip == "needs mmdet"
    assert blocks[2].code == "make docs\n"  # dedented by the fence's indent
    assert misplaced_skips(tmp_path / "page.md") == []


def test_unclosed_fence_and_missing_include_are_errors(tmp_path: Path) -> None:
    import pytest

    (tmp_path / "a.md").write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="a.md:1: code fence is not closed"):
        markdown_blocks(tmp_path / "a.md", tmp_path)
    (tmp_path / "b.md").write_text('--8<-- "missing.md"\n')
    with pytest.raises(FileNotFoundError, match="missing.md not found"):
        markdown_blocks(tmp_path / "b.md", tmp_path)


def test_skip_marker_before_a_non_python_block_is_reported(tmp_path: Path) -> None:
    (tmp_path / "p.md").write_text("<!-- skip: x -->\n```bash\nls\n```\n")
    assert misplaced_skips(tmp_path / "p.md") == [1]


def test_shell_check_names_each_wrong_target_command_and_module() -> None:
    root = Path(__file__).resolve().parents[2]
    targets = make_targets(root / "Makefile")
    assert {"test", "parity", "docs", "docs-serve"} <= targets and "PYTHON" not in targets
    commands = visdet_commands()
    assert commands["config"] >= {"show", "validate", "convert", "schema"} and "check" in commands["parity"]
    code = (
        "make docs && make no-such-target\n"
        "visdet frobnicate x\n"
        "visdet config shw my.yaml  # a typo\n"
        "FOO=1 .venv/bin/python -m visdet.cli parity check a.py b.pth photos/\n"
        "torchrun --nproc_per_node=2 -m visdet.cli train cfg.yaml\n"
        "python -m no_such_module_here --x\n"
        "pip install visdet\n"
    )
    report = check_shell_block(code, "x.md:1", targets, commands)
    assert report.checked == ["make docs", "visdet parity check", "visdet train"]
    assert len(report.problems) == 4, report.problems
    assert "`make no-such-target`" in report.problems[0]
    assert "`visdet frobnicate`" in report.problems[1]
    assert "`visdet config shw`" in report.problems[2]
    assert "no_such_module_here" in report.problems[3]


def test_generated_key_table_derives_status_from_the_schemas() -> None:
    from scripts.docs_gen import key_status, mmdet_keys_page
    from visdet.build import registry

    resnet = registry("backbone").get("ResNet").model_fields
    assert key_status("depth", resnet["depth"]) == "read"
    assert key_status("dcn", resnet["dcn"]) == "not implemented (must be null)"
    assert key_status("init_cfg", resnet["init_cfg"]) == "accepted, ignored"
    v1d = registry("backbone").get("ResNetV1d").model_fields
    assert key_status("deep_stem", v1d["deep_stem"]) == "only `True`"
    page = mmdet_keys_page()
    for kind in ("backbone", "detector", "hook", "optimizer"):
        for name in registry(kind).names():
            assert f"`{name}`" in page, (kind, name)


def test_generated_pages_cover_presets_and_commands() -> None:
    from scripts.docs_gen import cli_page, config_schema_page, model_zoo_page
    from visdet.config import list_presets

    zoo = model_zoo_page()
    for name in list_presets():
        assert f"`{name.split('/', 1)[1]}`" in zoo or f"`{name}`" in zoo, name
    assert "`configs/_base_/models/faster-rcnn_r50_fpn.py`" in zoo
    assert "parity/test_faster_rcnn_r50_live.py" in zoo
    cli = cli_page()
    for command, subs in visdet_commands().items():
        assert f"## `visdet {command}`" in cli
        for sub in subs:
            assert f"## `visdet {command} {sub}`" in cli
    schema = config_schema_page()
    assert "| `layer_decay` |" in schema and "### FasterRCNN" in schema


def test_reports_page_reads_the_reports_or_says_how_to_make_them(tmp_path: Path, monkeypatch) -> None:
    import json

    import scripts.docs_gen as gen
    from visdet.benchmark.schema import BenchmarkRun, ComponentResult, Metric

    monkeypatch.setattr(gen, "REPORTS", tmp_path)
    empty = gen.reports_page()
    assert "No parity report" in empty and "No benchmark run" in empty
    rows = [{"component": "ops/nms", "case": "a", "source": "golden", "max_abs": 2e-7, "max_rel": 1e-6,
             "status": "pass"},
            {"component": "ops/nms", "case": "b", "source": "live", "max_abs": 0.0, "max_rel": 0.0,
             "status": "FAIL"}]  # fmt: skip
    summary = {"cases": 2, "passed": 1, "failed": 1, "golden": 1, "live": 1, "live_skipped": 0,
               "worst_max_abs": 2e-7}  # fmt: skip
    (tmp_path / "parity.json").write_text(json.dumps({"summary": summary, "upstream": {}, "rows": rows}))
    result = ComponentResult(component="ops/nms", family="ops", impl="visdet", size=1000, size_name="boxes",
                             metrics={"forward_time": Metric(value=0.0123, unit="s")})  # fmt: skip
    BenchmarkRun(machine={"cpu_model": "X", "threads_used": 2}, settings={}, results=[result],
                 created="2026-01-01").save(tmp_path / "bench" / "ops.json")  # fmt: skip
    page = gen.reports_page()
    assert "| `ops/nms` | 2 | golden, live | 2.00e-07 | 1.00e-06 | 1 not passing |" in page
    assert "| `ops/nms` | visdet | 1000 boxes | 12.3 | - | - | ok |" in page
