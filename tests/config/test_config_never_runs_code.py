"""An mmdet ``.py`` config never runs code, through every way visdet reads one (issue 11).

Each payload would create a marker file if any part of it ran; every test asserts that the
marker does not exist and that the error is a ``ConfigError`` naming the file and the
line. The entry points: ``read_mmdet_config``, ``visdet.build_detector(path)``,
``visdet.apis.init_detector(path)`` and the command line (``visdet config convert`` and
``visdet config show``).
"""

from __future__ import annotations

import re
import signal
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

import visdet
from visdet.apis import init_detector
from visdet.cli import main
from visdet.config import ConfigError
from visdet.config.mmdet_convert import read_mmdet_config

# The exploit of the issue: from a tuple to os.system through the class hierarchy.
EXPLOIT = (
    "payload = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
    "._module.__builtins__['__import__']('os').system('touch {marker}')"
)
SHELL = "__import__('os').system('touch {marker}')"

# name -> (config text with {marker}, the line the error names, what the message says)
PAYLOADS: dict[str, tuple[str, int, str]] = {
    "subclasses_walk": ("model = dict(type='X')\n" + EXPLOIT + "\n", 2, r"attribute '\.__class__'"),
    "subclasses_in_comprehension": (
        "x = 1\ny = [s for s in ().__class__.__base__.__subclasses__()]\n", 2, r"attribute '\.__class__'"),
    "getattr_chain": ("x = getattr(getattr((), '__cl' + 'ass__'), '__base__')\n", 1, "name 'getattr' is not defined"),
    "type_builtin": ("x = type(())\n", 1, "name 'type' is not defined"),
    "lambda": ("f = (lambda: " + SHELL + ")()\n", 1, "lambda is not allowed"),
    "lambda_as_sort_key": ("x = sorted([1], key=lambda v: " + SHELL + ")\n", 1, "lambda is not allowed"),
    "import_os": ("import os\nos.system('touch {marker}')\n", 1, "importing the module 'os'"),
    "from_os_import": ("from os import system\nsystem('touch {marker}')\n", 1, "importing the module 'os'"),
    "import_subprocess_as": ("import subprocess as sp\n", 1, "importing the module 'subprocess'"),
    "import_builtins": ("from builtins import open\n", 1, "importing the module 'builtins'"),
    "dunder_import": ("x = " + SHELL + "\n", 1, "the name '__import__'"),
    "dunder_builtins": ("x = __builtins__\n", 1, "the name '__builtins__'"),
    "exec_eval_open": ("a = 1\nx = exec(\"open('{marker}', 'w')\")\n", 2, "name 'exec' is not defined"),
    "eval": ("x = eval(\"" + SHELL.replace('"', "'") + "\")\n", 1, "name 'eval' is not defined"),
    "open": ("x = open('{marker}', 'w')\n", 1, "name 'open' is not defined"),
    "fstring_attribute": ("x = f\"{{().__class__.__base__}}\"\n", 1, r"attribute '\.__class__'"),
    "fstring_call": ("x = f\"{{open('{marker}', 'w')}}\"\n", 1, "name 'open' is not defined"),
    "format_attribute": ("x = '{{0.__class__.__base__}}'.format(())\n", 1, "attribute and index lookups in format"),
    "format_index": ("x = '{{0[0]}}'.format([1])\n", 1, "attribute and index lookups in format"),
    "format_method_globals": ("x = 'a'.format.__globals__\n", 1, r"attribute '\.__globals__'"),
    "method_attribute": ("x = 'a'.join.__self__\n", 1, r"attribute '\.__self__'"),
    "int_attribute": ("x = (1).real\n", 1, r"attribute '\.real' of a int"),
    "function_attribute": ("x = dict.fromkeys([1])\n", 1, r"attribute '\.fromkeys'"),
    "comprehension_dunder_scope": ("x = [__builtins__ for _ in [1]]\n", 1, "the name '__builtins__'"),
    "comprehension_target_attribute": (
        "d = dict()\nx = [1 for d.a in [1]]\n", 2, "comprehension target"),
    "comprehension_walrus": ("x = [(y := " + SHELL + ") for _ in [1]]\n", 1, "walrus"),
    "walrus": ("x = (y := 1)\n", 1, "walrus"),
    "decorated_function": ("@(lambda f: " + SHELL + ")\ndef f():\n    pass\n", 1, "function definition"),
    "decorated_class": ("x = 1\n@print\nclass C:\n    pass\n", 2, "class definition"),
    "def": ("def f():\n    return " + SHELL + "\nx = f()\n", 1, "function definition"),
    "while": ("x = 1\nwhile True:\n    x = x + 1\n", 2, "while loop"),
    "for": ("for i in [1]:\n    x = " + SHELL + "\n", 1, "for loop"),
    "if": ("if True:\n    x = " + SHELL + "\n", 1, "if statement"),
    "try": ("try:\n    x = " + SHELL + "\nexcept Exception:\n    pass\n", 1, "try is not allowed"),
    "global": ("global x\n", 1, "global is not allowed"),
    "with_open": ("with open('{marker}', 'w') as f:\n    pass\n", 1, "only `with read_base\\(\\):`"),
    "assert": ("assert " + SHELL + "\n", 1, "assert is not allowed"),
    "raise": ("raise SystemExit(" + SHELL + ")\n", 1, "raise is not allowed"),
    "huge_power": ("x = 10 ** 10 ** 10\n", 1, "larger than"),
    "huge_shift": ("x = 1 << 10 ** 12\n", 1, "shifting left"),
    "huge_repeat": ("x = [0] * 10 ** 12\n", 1, "repeating a list"),
    "huge_string": ("x = 'a' * 10 ** 12\n", 1, "repeating a str"),
    "huge_range": ("x = list(range(10 ** 12))\n", 1, "over a range"),
    "huge_comprehension": ("x = [i for i in range(10 ** 12)]\n", 1, "iterating over a range"),
    "long_nested_loops": (
        # the step budget normally stops it; on a heavily loaded machine the 10 s budget may come first
        "x = [[j for j in range(99999)] for i in range(99999)]\n", 1, "evaluation steps|took more than 10 s"),
    "huge_format_width": ("x = f'{{1:>999999999}}'\n", 1, "format width"),
    "huge_nested_format_width": ("x = '{{0:>{{1}}}}'.format(1, 10 ** 9)\n", 1, "format width"),
    "huge_percent_width": ("x = '%999999999d' % 1\n", 1, "format width"),
    "sum_concatenation": ("x = sum([[1]], [])\n", 1, "non-number start"),
    "aliasing_bomb": ("a = [1]\n" + "a = [a, a, a, a]\n" * 30 + "b = str(a)\n", 32, "more than 1,000,000 values"),
    "deep_nesting": ("x = " + "[" * 5000 + "]" * 5000 + "\n", 1, "syntax error|nests too deeply"),
    "deep_unary": ("x = " + "-" * 100000 + "1\n", 0, "nests too deeply"),
    "long_sum": ("x = " + "+".join(["1"] * 1000) + "\n", 1, "nested more than"),
    "deep_value": ("a = 1\n" + "a = [a]\n" * 150 + "b = str(a)\n", 152, "nested more than 100 levels"),
    "call_imported_class": ("from mmdet.models import RetinaNet\nx = RetinaNet()\n", 2, "calling the imported"),
    "undefined_name_is_line_2": ("x = 1\ny = z\n", 2, "name 'z' is not defined"),
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@contextmanager
def no_hang(seconds: int = 120):
    """Fail (instead of hanging the suite) if the block runs for ``seconds``: a hang guard, not a timing."""

    def alarm(signum, frame):
        raise AssertionError(f"still running after {seconds} s: the reader did not bound the work")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _read(path):
    return read_mmdet_config(path)


def _build(path):
    return visdet.build_detector(path)


def _init(path):
    return init_detector(path)


ENTRY_POINTS = {"read_mmdet_config": _read, "build_detector": _build, "init_detector": _init}


@pytest.fixture
def payload_file(tmp_path, request):
    name = request.param
    text, line, message = PAYLOADS[name]
    marker = tmp_path / "PWNED"
    config = tmp_path / "configs" / f"{name}.py"
    config.parent.mkdir(parents=True)
    config.write_text(text.replace("{marker}", str(marker)).replace("{{", "{").replace("}}", "}"))
    return config, marker, line, message


def _expected_location(config: Path, line: int) -> str:
    return re.escape(str(config)) + (rf":{line}:" if line else ":")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("payload_file", PAYLOADS, indirect=True)
def test_payload_runs_nothing_and_names_file_and_line(payload_file, entry):
    config, marker, line, message = payload_file
    with no_hang(), pytest.raises(ConfigError) as caught:
        ENTRY_POINTS[entry](str(config))
    assert not marker.exists(), "the payload ran"
    text = str(caught.value)
    assert re.search(_expected_location(config, line), text), text
    assert re.search(message, text), text


@pytest.mark.parametrize("command", ["convert", "show"])
@pytest.mark.parametrize("payload_file", PAYLOADS, indirect=True)
def test_cli_refuses_payload_in_one_line(payload_file, command, capsys):
    config, marker, line, message = payload_file
    with no_hang():
        assert main(["config", command, str(config)]) == 2
    assert not marker.exists(), "the payload ran"
    err = capsys.readouterr().err
    assert err.startswith(f"visdet config {command}: error:") and err.count("\n") == 1, err
    assert re.search(_expected_location(config, line), err) and re.search(message, err), err


def test_environment_placeholder_cannot_inject_code(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    monkeypatch.setenv("VISDET_EVIL", SHELL.format(marker=marker).replace(" ", ""))
    config = write(tmp_path / "c.py", "x = 1\nroot = {{$VISDET_EVIL:default}}\n")
    with pytest.raises(ConfigError, match=re.escape(str(config)) + ":2: the name '__import__'"):
        read_mmdet_config(config)
    assert not marker.exists()


def test_payload_in_a_base_names_the_base(tmp_path):
    marker = tmp_path / "PWNED"
    write(tmp_path / "base.py", "model = dict(type='X')\n" + EXPLOIT.format(marker=marker) + "\n")
    child = write(tmp_path / "child.py", "_base_ = ['base.py']\nmodel = dict(depth=1)\n")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "base.py")) + r":2: the attribute '\.__class__'"):
        read_mmdet_config(child)
    assert not marker.exists()


def test_payload_in_a_read_base_import_names_that_file(tmp_path):
    marker = tmp_path / "PWNED"
    write(tmp_path / "_base_" / "model.py", "model = dict(type='X')\nx = " + SHELL.format(marker=marker) + "\n")
    child = write(tmp_path / "exp" / "c.py", """\
        from mmengine.config import read_base

        with read_base():
            from .._base_.model import *
        """)
    base = re.escape(str(tmp_path / "_base_" / "model.py"))
    with pytest.raises(ConfigError, match=base + ":2: the name '__import__'"):
        read_mmdet_config(child)
    assert not marker.exists()


@pytest.mark.parametrize(("text", "match"), [
    ("with read_base():\n    import os\n", r"c\.py:2: only `from \.module import \.\.\.`"),
    ("with read_base():\n    from os import path\n", r"c\.py:2: `from os import \.\.\.` in read_base\(\)"),
    ("with read_base(), open('x'):\n    pass\n", r"c\.py:1: only `with read_base\(\):`"),
    ("from . import x\n", r"c\.py:1: the relative import"),
    ("from torch.optim import *\n", r"c\.py:1: `from torch\.optim import \*` outside"),
    ("import numpy, torch\n", r"c\.py:1: import one module per line"),
    ("from mmengine.config import read_base\nwith read_base():\n    from .missing import *\n",
     r"c\.py:3: config file not found: .*missing\.py"),
])
def test_read_base_style_refusals(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        read_mmdet_config(write(tmp_path / "c.py", text))


def test_base_cycle_and_missing_base_name_the_files(tmp_path):
    write(tmp_path / "a.py", "_base_ = ['b.py']\n")
    write(tmp_path / "b.py", "_base_ = ['a.py']\n")
    with no_hang(), pytest.raises(ConfigError, match=r"cycle: .*a\.py -> .*b\.py -> .*a\.py"):
        visdet.build_detector(str(tmp_path / "a.py"))
    missing = write(tmp_path / "m.py", "_base_ = './nowhere.py'\n")
    with pytest.raises(ConfigError, match=r"not found: .*nowhere\.py \(listed in _base_ of .*m\.py\)"):
        init_detector(str(missing))


def test_read_base_cycle(tmp_path):
    write(tmp_path / "a.py", "with read_base():\n    from .b import *\n")
    write(tmp_path / "b.py", "with read_base():\n    from .a import *\n")
    with no_hang(), pytest.raises(ConfigError, match=r"cycle: .*a\.py -> .*b\.py -> .*a\.py"):
        read_mmdet_config(tmp_path / "a.py")


def test_diamond_of_bases_is_read_once_per_file(tmp_path):
    # 2**25 paths through 25 levels of two bases each: reading each file once keeps it quick
    write(tmp_path / "l0.py", "x = 0\n")
    for level in range(1, 26):
        below = f".l{level - 1}"
        text = f"with read_base():\n    from {below} import *\n    from {below} import x as y\nx = x + 1\n"
        write(tmp_path / f"l{level}.py", text)
    with no_hang():
        assert read_mmdet_config(tmp_path / "l25.py") == {"x": 25, "y": 24}
