"""The reviewed list of parity-suite gaps (parity/coverage_exempt.yaml) and the error-path finder."""

from __future__ import annotations

import ast
import re

from parity.coverage_gaps import ROOT, _raise_lines, load_exempt


def test_every_listed_gap_names_a_real_line_with_a_reason() -> None:
    sections = load_exempt()
    assert sections["exempt"] and sections["numeric_not_reached"] is not None
    for section in sections.values():
        for gap, reason in section.items():
            match = re.fullmatch(r"(visdet/(?:ops|models)/[\w/]+\.py)(?::(\d+)(?:->(\d+|exit))?)?", gap)
            assert match, gap
            lines = (ROOT / match[1]).read_text().splitlines()
            if match[2] is not None:  # else the whole file (its every gap), which must exist
                assert 1 <= int(match[2]) <= len(lines) and lines[int(match[2]) - 1].strip(), gap
            assert lines and len(reason) > 10, gap


def test_error_paths_are_raises_and_blocks_ending_in_one() -> None:
    source = (
        "def f(x):\n"          # 1
        "    if x < 0:\n"      # 2
        "        y = -x\n"     # 3
        "        raise ValueError(y)\n"  # 4
        "    if x > 5:\n"      # 5
        "        x = 5\n"      # 6
        "    try:\n"           # 7
        "        pass\n"       # 8
        "    except KeyError:\n"  # 9
        "        raise\n"      # 10
        "    return x\n"       # 11
    )  # fmt: skip
    assert _raise_lines(ast.parse(source)) == {3, 4, 9, 10}
