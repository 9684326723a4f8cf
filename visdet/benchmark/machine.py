"""Facts about the machine and software a benchmark ran on, for the run's header."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def git_commit(repo: str | Path | None = None) -> tuple[str | None, bool | None]:
    """The checked-out commit of the repository holding visdet, and whether it is dirty.

    Args:
        repo: Directory inside the repository; defaults to visdet's source directory.

    Returns:
        ``(sha, dirty)``, or ``(None, None)`` when git or the repository is absent
        (e.g. visdet installed from a wheel).
    """
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def machine_info(device: torch.device) -> dict[str, Any]:
    """Describe the machine, the software and the threads a run uses.

    Args:
        device: The device the run measures on.

    Returns:
        A JSON-ready dictionary: cpu model, logical cores, torch threads used,
        platform, python and torch versions, device (and GPU name), git commit.
    """
    sha, dirty = git_commit()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "threads_used": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": None,
        "git_commit": sha,
        "git_dirty": dirty,
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info
