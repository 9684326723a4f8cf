"""visdet's layers: ops -> structures -> models/data -> config/build -> engine -> apis -> cli.

No module imports a higher layer (at module level or inside a function), the import
graph has no cycle, and importing any module in a fresh process loads nothing of a
higher layer (:mod:`visdet.testing.layer_check`).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from visdet.testing.layer_check import LAYERS, all_modules, layer_name, static_violations


def test_every_module_has_a_layer():
    modules = all_modules()
    assert len(modules) > 150
    names = {layer_name(module) for module in modules}
    assert names == {name for name, _ in LAYERS}
    assert layer_name("visdet.models.detectors") == "models/data"


def test_no_upward_import_and_no_cycle():
    assert [v.message for v in static_violations()] == []


def test_the_static_check_finds_upward_imports_and_cycles(tmp_path):
    package = tmp_path / "visdet"
    (package / "ops").mkdir(parents=True)
    (package / "engine").mkdir()
    (package / "__init__.py").write_text("")
    (package / "ops" / "__init__.py").write_text("")
    (package / "ops" / "a.py").write_text(textwrap.dedent("""
        def late():
            from visdet.engine.b import thing
    """))
    (package / "engine" / "__init__.py").write_text("")
    (package / "engine" / "b.py").write_text("from visdet.engine.c import x\n")
    (package / "engine" / "c.py").write_text("from visdet.engine import b\n")
    messages = [v.message for v in static_violations(all_modules(package))]
    assert any("visdet.ops.a (ops) imports visdet.engine.b (engine)" in m for m in messages)
    assert "import cycle: visdet.engine.b <-> visdet.engine.c" in messages


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the fresh-process check forks")
def test_each_module_in_a_fresh_process_loads_no_higher_layer():
    done = subprocess.run([sys.executable, "-m", "visdet.testing.layer_check"], capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("0 problem(s)")
