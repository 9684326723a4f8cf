"""benchmarks/gate/envs.py: a commit's worktree and environment layered on this one."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gate import envs


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A tiny git repository whose package is also named visdet (two commits)."""
    root = tmp_path / "repo"
    (root / "visdet").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "visdet"\nversion = "0"\n[tool.setuptools]\npackages = ["visdet"]\n'
    )
    (root / "visdet" / "__init__.py").write_text("WHICH = 'first'\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    (root / "visdet" / "__init__.py").write_text("WHICH = 'second'\n")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "second")
    return root


def test_each_side_imports_its_own_commit_and_the_parents_packages(repo, tmp_path):
    first, second = envs.resolve(repo, "main~1"), envs.resolve(repo, "main")
    base = envs.prepare(repo, tmp_path / "work", "base", first)
    head = envs.prepare(repo, tmp_path / "work", "head", second)
    probe = "import visdet, torch; print(visdet.WHICH, torch.__version__)"
    for env, which in ((base, "first"), (head, "second")):
        out = subprocess.run([str(env.python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True,
                             env=envs.isolated_environ())  # as the gate's own commands and workers
        assert out.stdout.split() == [which, __import__("torch").__version__]  # torch from this environment
    again = envs.prepare(repo, tmp_path / "work", "base", first)  # reused, not rebuilt
    assert again == base


def test_a_callers_pythonpath_does_not_reach_the_environment(repo, tmp_path, monkeypatch):
    """A PYTHONPATH naming another checkout (e.g. PYTHONPATH=$PWD in a worktree) must not win over the env's own."""
    other = tmp_path / "other"
    (other / "visdet").mkdir(parents=True)
    (other / "visdet" / "__init__.py").write_text("WHICH = 'other'\n")
    monkeypatch.setenv("PYTHONPATH", str(other))
    env = envs.prepare(repo, tmp_path / "work", "head", envs.resolve(repo, "main"))  # check() passes
    assert "PYTHONPATH" not in envs.isolated_environ()
    out = subprocess.run([str(env.python), "-c", "import visdet; print(visdet.WHICH)"], cwd=tmp_path,
                         capture_output=True, text=True, check=True, env=envs.isolated_environ())  # fmt: skip
    assert out.stdout.strip() == "second"


def test_unknown_ref_is_an_error(repo):
    with pytest.raises(RuntimeError, match="no-such-branch"):
        envs.resolve(repo, "no-such-branch")


def test_check_refuses_an_environment_that_imports_visdet_elsewhere(repo):
    fake = envs.Env("head", "0" * 40, repo, Path(sys.executable))  # it imports visdet from its own install
    with pytest.raises(RuntimeError, match="imports visdet from"):
        envs.check(fake)
