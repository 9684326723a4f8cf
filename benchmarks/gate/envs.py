"""One commit's environment for the gate: a git worktree and a virtual environment.

The environment does not install torch or any other dependency again: it is a fresh
``venv`` whose ``site-packages`` holds a ``.pth`` line naming the parent environment's
``site-packages`` (the one running the gate, e.g. ``.venv``, built from
``constraints.txt``), and visdet installed editable from the worktree with
``pip install --no-deps --no-build-isolation --ignore-installed -e``. A path line in a
``.pth`` file adds the folder without running the ``.pth`` files inside it, so the
parent's own editable visdet is not importable there; :func:`check` proves it by
importing visdet from a neutral folder. Every command here runs without the caller's
``PYTHONPATH`` / ``PYTHONHOME`` (:func:`isolated_environ`): a ``PYTHONPATH`` naming some checkout
would put that checkout's visdet before the environment's own.

Environments live under the work folder as ``<role>-<sha12>`` (role ``base`` or
``head``): an A/A run (same commit twice) gets two separate installs, and a later run of
the same commits reuses them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

PARENT_PTH = "_visdet_gate_parent.pth"


@dataclass(frozen=True)
class Env:
    """A commit's worktree and the Python of its environment."""

    role: str
    sha: str
    src: Path
    python: Path


#: Variables of the caller that would change what an environment's Python imports.
LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME")


def isolated_environ() -> dict[str, str]:
    """This process's environment without :data:`LEAKY_VARIABLES` (for an environment's Python)."""
    return {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=isolated_environ(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def resolve(repo: Path, ref: str) -> str:
    """The full commit hash of ``ref`` in ``repo``.

    Raises:
        RuntimeError: ``ref`` names no commit.
    """
    return _run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=repo).strip()


def prepare(repo: Path, workdir: Path, role: str, sha: str, parent_python: str = sys.executable) -> Env:
    """The environment of ``sha`` for ``role`` (created on first use, reused after)."""
    root = (workdir / f"{role}-{sha[:12]}").resolve()
    src, venv = root / "src", root / "venv"
    python = venv / "bin" / "python"
    stamp = root / "installed"
    if stamp.exists() and (src / ".git").exists():  # (a removed worktree is made again)
        return Env(role, sha, src, python)
    root.mkdir(parents=True, exist_ok=True)
    if not (src / ".git").exists():
        _run(["git", "worktree", "prune"], cwd=repo)
        _run(["git", "worktree", "add", "--force", "--detach", str(src), sha], cwd=repo)
    if not python.exists():
        _run([parent_python, "-m", "venv", "--without-pip", str(venv)])
    parent_site = _run([parent_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    own_site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    Path(own_site, PARENT_PTH).write_text(parent_site + "\n", encoding="utf-8")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--ignore-installed",
          "-e", str(src)], cwd=root)  # fmt: skip
    env = Env(role, sha, src, python)
    check(env)
    stamp.write_text(sha + "\n", encoding="utf-8")
    return env


def check(env: Env) -> None:
    """Raise RuntimeError unless ``import visdet`` in ``env`` comes from its worktree."""
    where = _run([str(env.python), "-c", "import visdet; print(visdet.__file__)"], cwd=env.python.parent).strip()
    if not Path(where).resolve().is_relative_to(env.src.resolve()):
        raise RuntimeError(f"{env.role} environment imports visdet from {where}, not from {env.src}")


def site_packages() -> str:
    """This interpreter's ``site-packages`` (the parent of environments made from it)."""
    return sysconfig.get_paths()["purelib"]
