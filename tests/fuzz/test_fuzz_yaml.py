"""Fuzzing the YAML config loader: random documents, token soups, ``_base_`` graphs and alias bombs.

The only outcomes allowed from ``visdet.config.load_config``: a plain dict (without
``_base_``), or a ``ConfigError`` whose message names one of the files (with line and
column for YAML errors). Alias and merge-key bombs must be refused before they expand
(the test would run out of time or memory otherwise).
"""

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from visdet.config import load_config
from visdet.config.errors import ConfigError
from visdet.config.loader import MAX_YAML_VALUES

pytestmark = pytest.mark.fuzz

FILES = ("a.yaml", "b.yaml", "c.yml")
BASE_VALUES = st.one_of(
    st.sampled_from([*FILES, "missing.yaml", "../a.yaml", "/nonexistent/x.yaml", "no_such_preset", "", "a.yaml "]),
    st.lists(st.sampled_from([*FILES, "missing.yaml"]), max_size=4),
    st.sampled_from([3, None, True, {"a": 1}, [1], [["a.yaml"]], 1.5]),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=10)
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=20)  # fmt: skip
TOKENS = st.sampled_from(
    ["a", "b", ":", ": ", "- ", "\n", "  ", "\t", "&x ", "*x", "&y ", "*y", "<<: ", "_base_: ", "[", "]", "{", "}",
     ",", "'", '"', "!!python/object/apply:os.system ", "!!binary ", "? ", "%YAML 1.1\n", "---\n", "...\n", "#",
     "1e999", ".nan", "~", "🙂", "\x00", "\ufeff", "_delete_: true", "a.yaml", "|\n", ">\n", "!!map ", "!!set "]
)  # fmt: skip


def _check(root, path):
    try:
        config = load_config(path)
    except ConfigError as err:
        assert str(root) in str(err), f"error names no file: {err!r}"
        return "error"
    assert isinstance(config, dict) and "_base_" not in config
    return "ok"


def _document(data):
    kind = data.draw(st.sampled_from(["dump", "dump", "tokens"]))
    if kind == "tokens":
        return "".join(data.draw(st.lists(TOKENS, max_size=40)))
    doc = data.draw(st.dictionaries(st.text(max_size=6), VALUES, max_size=5))
    if data.draw(st.booleans()):
        doc["_base_"] = data.draw(BASE_VALUES)
    if data.draw(st.booleans()):
        doc = data.draw(VALUES)  # type confusion at the top: a list, a scalar...
    return yaml.safe_dump(doc, allow_unicode=data.draw(st.booleans()))


@fuzz_settings
@given(data=st.data())
def test_random_documents_and_base_graphs(tmp_path, data):
    for name in FILES:
        (tmp_path / name).write_text(_document(data), encoding="utf-8", errors="surrogatepass")
    event(f"outcome: {_check(tmp_path, tmp_path / 'a.yaml')}")


def _bomb(width, depth, merge_keys):
    lines = ["l0: &l0 {x: 1, y: 2}" if merge_keys else "l0: &l0 [1, 2]"]
    for level in range(1, depth + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        body = f"{{<<: [{refs}], k{level}: 1}}" if merge_keys else f"[{refs}]"
        lines.append(f"l{level}: &l{level} {body}")
    return "\n".join(lines) + "\n"


@fuzz_settings
@given(width=st.integers(1, 12), depth=st.integers(1, 14), merge_keys=st.booleans())
def test_alias_and_merge_key_bombs_are_refused_before_expanding(tmp_path, width, depth, merge_keys):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(width, depth, merge_keys))
    # the document's size once expanded, counted by hand: each level repeats the previous one `width` times
    level = 5 if merge_keys else 3  # {x: 1, y: 2} or [1, 2]: the collection and its scalars
    total = 1 + 1 + level  # the top mapping, the key l0, l0
    for _ in range(depth):
        level = (1 + 1 + (1 + width * level) + 2) if merge_keys else (1 + width * level)
        total += 1 + level
    if total <= MAX_YAML_VALUES:
        config = load_config(path)
        assert len(config[f"l{depth}"]) == (depth + 2 if merge_keys else width)
        event("outcome: ok")
        return
    with pytest.raises(ConfigError, match=r"bomb\.yaml:\d+:\d+: .*expands to more than"):
        load_config(path)
    event("outcome: refused bomb")
