"""Fenced code blocks of the documentation, for the snippet test (tests/docs/test_snippets.py).

A small extractor of our own rather than pytest-examples or mktestdocs: the test needs
three things neither gives as is: the blocks of one page run in order in one namespace
and one prepared working folder; a skip marker is an HTML comment with a reason
(``<!-- skip: needs mmdet -->``) that the site does not render, and skipped blocks are
counted; shell blocks are checked against the Makefile and the ``visdet`` parser rather
than run. pytest-examples is built around formatting and linting examples, and
mktestdocs runs each block on its own; both would need as much glue as this file.

Rules:

* a block is a fence of three backticks with a language (````python``, ````bash``...),
  possibly indented (inside a list item); its code is dedented by the fence's indent;
* ``<!-- skip: REASON -->`` on the last non-blank line before a fence skips that block;
* ``--8<-- "path[:start[:end]]"`` (pymdownx.snippets, paths from the repository root)
  includes another file's lines; its blocks count as the including page's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$")
INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^":]+)(?::(?P<start>\d+))?(?::(?P<end>\d+))?"\s*$')


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its code and, if skipped, why."""

    source: str  # repository-relative path of the file the block is written in
    line: int  # 1-based line of the block's first code line in that file
    lang: str
    code: str
    skip: str | None = None

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.source}:{self.line}"


def _blocks_of_lines(lines: list[str], source: str, first_line: int, root: Path) -> list[Block]:
    blocks: list[Block] = []
    i = 0
    last_text = ""
    while i < len(lines):
        line = lines[i]
        include = INCLUDE.match(line)
        if include:
            path = root / include["path"]
            if not path.is_file():
                raise FileNotFoundError(f"{source}:{first_line + i}: included file {include['path']} not found")
            text = path.read_text(encoding="utf-8").splitlines()
            start = int(include["start"]) if include["start"] else 1
            end = int(include["end"]) if include["end"] else len(text)
            blocks += _blocks_of_lines(text[start - 1 : end], include["path"], start, root)
            i += 1
            continue
        fence = FENCE.match(line)
        if fence and fence["lang"]:
            indent = fence["indent"]
            skip = SKIP.match(last_text)
            body: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
                j += 1
            if j == len(lines):
                raise ValueError(f"{source}:{first_line + i}: code fence is not closed")
            blocks.append(Block(source, first_line + i + 1, fence["lang"], "\n".join(body) + "\n",
                                skip["reason"] if skip else None))  # fmt: skip
            i = j + 1
            last_text = ""
            continue
        if line.strip():
            last_text = line
        i += 1
    return blocks


def markdown_blocks(path: Path, root: Path) -> list[Block]:
    """Every fenced block of ``path`` (and of the files it includes), in order."""
    source = path.relative_to(root).as_posix()
    return _blocks_of_lines(path.read_text(encoding="utf-8").splitlines(), source, 1, root)


def misplaced_skips(path: Path) -> list[int]:
    """Lines of skip markers not followed (after blank lines) by a ```python fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    bad = []
    for n, line in enumerate(lines):
        if SKIP.match(line):
            following = next((x for x in lines[n + 1 :] if x.strip()), "")
            fence = FENCE.match(following)
            if not (fence and fence["lang"] == "python"):
                bad.append(n + 1)
    return bad
