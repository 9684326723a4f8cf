"""Fuzzing the mmdet ``.py`` config reader (issue 11).

Three sources of bad configs:

* generated Python programs mixing the constructs configs use with those they may not
  (imports, dunders, lambdas, loops, huge numbers, format-string tricks...), each carrying
  payloads that would create a marker file if any part of them ran;
* random mutations of real config text (the Faster R-CNN chain of ``tests/data`` and the
  pure-Python ``read_base`` configs), mutating the top file or one of its bases;
* the hand-made corpus ``tests/fuzz/corpus/mmdet_py/`` (one test per file; the first line
  says the expected outcome).

The only outcomes allowed: a dict, or ``ConfigError`` whose message names the file; and
the marker file never exists. ``FUZZ_EXAMPLES`` cases per generator (``make fuzz``: 10,000).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from visdet.config import ConfigError
from visdet.config.mmdet_convert import read_mmdet_config

pytestmark = pytest.mark.fuzz

DATA = Path(__file__).parents[1] / "data"
CORPUS = Path(__file__).parent / "corpus" / "mmdet_py"
MARKER = "PWNED"

# -- generated programs ------------------------------------------------------------------
NAMES = ["a", "b", "model", "x", "_base_", "dict", "list", "range", "len", "str", "sorted", "open", "getattr",
         "eval", "exec", "compile", "type", "vars", "globals", "__import__", "__builtins__", "__class__",
         "print", "object", "breakpoint", "input", "RetinaNet", "nn"]  # fmt: skip
ATTRIBUTES = ["update", "pop", "get", "format", "join", "keys", "items", "append", "__class__", "__base__",
              "__subclasses__", "__globals__", "__dict__", "__init__", "__self__", "__builtins__", "mro",
              "gi_frame", "f_globals", "system", "real", "backbone", "depth", "_delete_", "merge", "copy"]  # fmt: skip
SHELL = f"__import__('os').system('touch {MARKER}')"
PAYLOAD_EXPRESSIONS = [
    SHELL,
    "().__class__.__base__.__subclasses__()",
    f"open('{MARKER}', 'w')",
    f"exec(\"open('{MARKER}', 'w')\")",
    f"(lambda: {SHELL})()",
    "'{0.__class__.__base__}'.format(())",
    "'{0.__init__.__globals__}'.format(dict)",
    "f'{().__class__}'",
    "[c for c in ().__class__.__bases__]",
    "getattr((), '__class__')",
    "10 ** 10 ** 10",
    "[0] * 10 ** 10",
    "'x' * 10 ** 10",
    "list(range(10 ** 10))",
    "'%*d' % (10 ** 9, 1)",
    "f'{1:>{10 ** 9}}'",
    "(y := 1)",
    "[a for a in range(10 ** 9)]",
    "sum([[1]] * 3, [])",
    "{**x}",
]
PAYLOAD_STATEMENTS = [
    f"import os\nos.system('touch {MARKER}')",
    "from subprocess import run",
    "import builtins",
    f"def f():\n    return {SHELL}",
    f"class C:\n    x = {SHELL}",
    f"@(lambda f: {SHELL})\ndef g():\n    pass",
    "while True:\n    pass",
    f"for i in range(3):\n    x = {SHELL}",
    f"if True:\n    x = {SHELL}",
    f"try:\n    x = {SHELL}\nexcept Exception:\n    pass",
    "global a",
    f"with open('{MARKER}', 'w') as h:\n    pass",
    "with read_base():\n    from .nothere import *",
    "from mmdet.models import RetinaNet",
    "import torch.nn as nn",
    "del a",
    "del _base_.model",
    "assert False",
    "raise SystemExit",
    "async def h():\n    pass",
    "x: int = 3",
    "a, *b = [1, 2, 3]",
    "a += [1]",
    "model.backbone = dict(depth=1)",
    "x['k'] = 1",
    "pass",
]
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "|", "^", "&", "@", "==", "<", "in", "is", "and", "or"]


def _constants() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(st.sampled_from("ab{}%0.[]_:!rs\\'\"\n"), max_size=12).map(repr),
        st.sampled_from(["None", "True", "False", "...", "b'x'", "1j", "1e308", "(1, 2)", "{1, 2}", "{}"]),
    )


def _expressions() -> st.SearchStrategy[str]:
    # payloads are one leaf in five, so that some programs are read and their values exercised
    leaves = st.one_of(
        _constants(), _constants(), st.sampled_from(NAMES), _constants(), st.sampled_from(PAYLOAD_EXPRESSIONS)
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(OPERATORS), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["-", "not ", "~", "+"]), inner).map(lambda t: f"({t[0]}{t[1]})"),
            st.tuples(inner, st.sampled_from(ATTRIBUTES)).map(lambda t: f"({t[0]}).{t[1]}"),
            st.tuples(inner, st.lists(inner, max_size=3)).map(lambda t: f"({t[0]})({', '.join(t[1])})"),
            st.tuples(
                st.sampled_from(NAMES), st.dictionaries(st.sampled_from(["type", "a", "b", "lr"]), inner, max_size=3)
            ).map(lambda t: f"{t[0]}({', '.join(f'{k}={v}' for k, v in t[1].items())})"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}:]"),
            st.lists(inner, max_size=4).map(lambda items: f"[{', '.join(items)}]"),
            st.lists(st.tuples(inner, inner), max_size=3).map(
                lambda items: "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
            ),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]} for a in {t[1]}]"),
            st.tuples(inner, inner, inner).map(lambda t: f"{{{t[0]}: {t[1]} for a, b in {t[2]}}}"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            st.tuples(inner, st.sampled_from(["", "!r", "!s", "!a"]), st.sampled_from(["", ":>5", ":.2f", ":{a}"])).map(
                lambda t: "f'{" + t[0].replace("'", '"') + t[1] + t[2] + "}'"
            ),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}) % ({t[1]})"),
            st.tuples(inner).map(lambda t: f"'{{}} {{0}}'.format({t[0]})"),
            st.tuples(inner).map(lambda t: f"(lambda a: {t[0]})"),
            st.tuples(inner).map(lambda t: f"(b := {t[0]})"),
            st.tuples(inner).map(lambda t: f"[*{t[0]}]"),
        )

    return st.recursive(leaves, extend, max_leaves=12)


def _statements() -> st.SearchStrategy[str]:
    assignment = st.tuples(
        st.sampled_from(["a", "b", "model", "x", "_base_", "__x", "a.b", "x[0]"]), _expressions()
    ).map(lambda t: f"{t[0]} = {t[1]}")
    return st.one_of(assignment, assignment, _expressions(), st.sampled_from(PAYLOAD_STATEMENTS))


@contextmanager
def _sandbox():
    """A fresh folder, also the working directory (payloads would write their marker here)."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="visdet-fuzz-") as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def _check_outcome(config: Path, sandbox: Path) -> str:
    """Read ``config``; only a dict or a ConfigError naming the file are allowed. Returns the outcome."""
    try:
        result = read_mmdet_config(config)
    except ConfigError as err:
        assert str(config.name) in str(err) or str(sandbox) in str(err), f"error does not name the file: {err}"
        outcome = "refused"
    else:
        assert isinstance(result, dict)
        outcome = "read"
    assert not (sandbox / MARKER).exists(), "a payload ran"
    event(outcome)  # `--hypothesis-show-statistics` shows how many were read and refused
    return outcome


@fuzz_settings
@given(statements=st.lists(_statements(), min_size=1, max_size=6))
def test_generated_programs_run_nothing(statements):
    with _sandbox() as sandbox:
        config = sandbox / "generated.py"
        config.write_text("a = 1\nb = [1, 2]\nx = dict(k=1)\nmodel = dict()\n" + "\n".join(statements) + "\n")
        _check_outcome(config, sandbox)


# -- mutations of real config text -------------------------------------------------------
SEEDS = [
    ("mmdet_configs", "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"),
    ("mmdet_configs", "_base_/models/faster-rcnn_r50_fpn.py"),
    ("mmdet_configs", "_base_/datasets/coco_detection.py"),
    ("mmdet_pure_python_configs", "retina/retina-like_r101_2x.py"),
    ("mmdet_pure_python_configs", "_base_/models/retina_like.py"),
]
TOP = {
    "mmdet_configs": "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py",
    "mmdet_pure_python_configs": "retina/retina-like_r101_2x.py",
}
INSERTIONS = ["(", ")", "[", "]", "{", "}", ",", ":", "=", ".", "*", "**", "\n", "    ", "\\", "'", '"', "#",
              "{{", "}}", "{{_base_.model}}", "{{$HOME:x}}", "{{ fileDirname }}", "_base_", "_delete_=True,",
              "__class__", ".__class__.__base__", "lambda: 0", "import os\n", "del model\n", "\x00", "\ufeff",
              " if 1 else ", " for a in [1]", "9" * 40, "-", "not ", ":=", "@", "\r\n",
              SHELL, f"\n{SHELL}\n"]  # fmt: skip


def _mutate(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        if not text:
            text = data.draw(st.sampled_from(INSERTIONS))
            continue
        start = data.draw(st.integers(0, len(text) - 1), label="start")
        end = data.draw(st.integers(start, min(len(text), start + 40)), label="end")
        kind = data.draw(st.sampled_from(["delete", "insert", "duplicate", "replace", "swap"]), label="kind")
        if kind == "delete":
            text = text[:start] + text[end:]
        elif kind == "insert":
            text = text[:start] + data.draw(st.sampled_from(INSERTIONS)) + text[start:]
        elif kind == "duplicate":
            text = text[:end] + text[start:end] * data.draw(st.integers(1, 3)) + text[end:]
        elif kind == "replace":
            text = text[:start] + data.draw(st.text(max_size=6)) + text[end:]
        elif end - start >= 2:
            text = text[:start] + text[end - 1] + text[start + 1 : end - 1] + text[start] + text[end:]
    return text


@fuzz_settings
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_real_configs_give_a_dict_or_a_clear_error(seed, data):
    folder, relative = seed
    with _sandbox() as sandbox:
        tree = sandbox / folder
        shutil.copytree(DATA / folder, tree)
        target = tree / relative
        target.write_text(_mutate(target.read_text(encoding="utf-8"), data), encoding="utf-8")
        _check_outcome(tree / TOP[folder], sandbox)


# -- the hand-made corpus ----------------------------------------------------------------
_EXPECT = re.compile(r"#\s*expect:\s*(ok|error)(?:\s+line=(\d+))?(?:\s+(.*))?")


def _corpus_files() -> list[Path]:
    return sorted(path for path in CORPUS.glob("*.py") if not path.name.startswith("_"))


def test_the_corpus_is_there():
    assert len(_corpus_files()) >= 20


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
def test_corpus_file(path, tmp_path, monkeypatch):
    first_line = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    expect = _EXPECT.search(first_line)
    assert expect, f"{path.name}: the first line must say '# expect: ok' or '# expect: error [line=N] REGEX'"
    monkeypatch.chdir(tmp_path)  # a payload would write its marker here
    monkeypatch.setenv("VISDET_FUZZ_INJECTED", SHELL)
    if expect.group(1) == "ok":
        assert isinstance(read_mmdet_config(path), dict)
    else:
        with pytest.raises(ConfigError) as caught:
            read_mmdet_config(path)
        message = str(caught.value)
        location = re.escape(str(path)) + (f":{expect.group(2)}:" if expect.group(2) else "")
        assert re.search(location, message), message
        assert re.search(expect.group(3) or "", message), message
    assert not (tmp_path / MARKER).exists(), "a payload ran"
