"""Check shell blocks of the docs without running them.

Every ``make TARGET`` must name a target of the Makefile; every ``visdet COMMAND
[SUBCOMMAND]`` (also ``python -m visdet.cli ...``, ``torchrun ... -m visdet.cli ...``) a
command of the ``visdet`` parser; every ``python -m MODULE`` an importable module. Other
programs (pip, asv, git, ...) are not checked.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

TARGET = re.compile(r"^(?P<names>[\w.-]+(?:[ \t]+[\w.-]+)*)[ \t]*:(?!=)")
ENV_ASSIGNMENT = re.compile(r"^\w+=")
SEPARATORS = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")


def make_targets(makefile: Path) -> set[str]:
    """The targets a Makefile defines (rule lines ``a b: ...``, not variable assignments)."""
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = TARGET.match(line)
        if match and not line.startswith("\t"):
            targets.update(n for n in match["names"].split() if not n.startswith("."))
    return targets


@dataclass
class ShellReport:
    """What a shell block's check found."""

    checked: list[str] = field(default_factory=list)  # "make docs", "visdet config show", ...
    problems: list[str] = field(default_factory=list)


def _commands(code: str) -> list[list[str]]:
    """The simple commands of a block: continuations joined, comments dropped, split on ; && || |."""
    text = re.sub(r"\\\n", " ", code)
    out = []
    for line in text.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as err:
            out.append(["<unparsable>", f"{line!r}: {err}"])
            continue
        command: list[str] = []
        for token in tokens:
            if SEPARATORS.fullmatch(token):
                if command:
                    out.append(command)
                command = []
            else:
                command.append(token)
        if command:
            out.append(command)
    return out


def _check_visdet(args: list[str], commands: dict[str, set[str]], report: ShellReport, where: str) -> None:
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return
    top = words[0]
    if top not in commands:
        report.problems.append(f"{where}: `visdet {top}` is not a visdet command ({', '.join(sorted(commands))})")
        return
    subs = commands[top]
    if subs:
        if len(words) < 2 or words[1] not in subs:
            got = words[1] if len(words) > 1 else "(none)"
            report.problems.append(f"{where}: `visdet {top} {got}`: subcommands are {', '.join(sorted(subs))}")
            return
        report.checked.append(f"visdet {top} {words[1]}")
    else:
        report.checked.append(f"visdet {top}")


def check_shell_block(code: str, where: str, targets: set[str], commands: dict[str, set[str]]) -> ShellReport:
    """Check one block (see the module docstring).

    Args:
        code: The block's text.
        where: ``file:line`` for messages.
        targets: The Makefile's targets.
        commands: ``{command: {subcommands}}`` of the ``visdet`` parser.
    """
    report = ShellReport()
    for command in _commands(code):
        if command[0] == "<unparsable>":
            report.problems.append(f"{where}: cannot parse {command[1]}")
            continue
        while command and ENV_ASSIGNMENT.match(command[0]):
            command = command[1:]
        if not command:
            continue
        program = Path(command[0]).name
        args = command[1:]
        if program == "make":
            for target in [a for a in args if not a.startswith("-") and "=" not in a]:
                if target in targets:
                    report.checked.append(f"make {target}")
                else:
                    report.problems.append(f"{where}: `make {target}`: no such Makefile target")
            continue
        if program == "visdet":
            _check_visdet(args, commands, report, where)
            continue
        if "-m" in args and (program.startswith("python") or program == "torchrun"):
            module = args[args.index("-m") + 1] if args.index("-m") + 1 < len(args) else ""
            rest = args[args.index("-m") + 2 :]
            if module == "visdet.cli":
                _check_visdet(rest, commands, report, where)
            elif module and importlib.util.find_spec(module) is None:
                report.problems.append(f"{where}: `python -m {module}`: no such module")
            else:
                report.checked.append(f"python -m {module}")
    return report


def visdet_commands() -> dict[str, set[str]]:
    """``{command: {subcommands}}`` of the ``visdet`` parser (empty set: no subcommands)."""
    import argparse

    from visdet.cli import build_parser

    def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:  # where argparse keeps a parser's sub-parsers
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    return {name: set(subparsers(sub)) for name, sub in subparsers(build_parser()).items()}
