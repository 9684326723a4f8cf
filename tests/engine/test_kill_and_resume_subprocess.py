"""A real ``visdet train`` process killed with SIGKILL mid-epoch, resumed with ``--resume``.

The run writes a checkpoint every iteration; the test watches the work dir, kills the
process (SIGKILL: no cleanup, no ``finally``) as soon as ``iter_<K>.pth`` exists, checks
that ``latest.pth`` is complete and holds the RNG states and the position inside the
epoch, resumes with ``visdet train ... --resume`` and compares every logged loss term and
learning rate, iteration by iteration, with an uninterrupted run of the same config.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.engine.test_train_cmd import _config_file

EPOCHS = 3
KILL_AFTER = 5  # iteration whose checkpoint triggers the kill: iteration 4 or 5 is mid-epoch (3 batches an epoch)
SETS = [
    f"train_cfg.max_epochs={EPOCHS}", "train_dataloader.batch_size=1", "train_dataloader.dataset.filter_cfg.min_size=0",
    "randomness.seed=0", "visdet.progress=false",
    "default_hooks.logger.interval=1", "default_hooks.checkpoint.interval=1",
    "default_hooks.checkpoint.by_epoch=false", "default_hooks.checkpoint.max_keep_ckpts=0",
]  # fmt: skip


def _command(config, work_dir, *extra):
    args = [sys.executable, "-m", "visdet.cli", "train", str(config), "--work-dir", str(work_dir), *extra]
    for item in SETS:
        args += ["--set", item]
    return args


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _train_logs(work_dir):
    """iteration -> list of logged {loss terms, lr} (an iteration logged twice appears twice)."""
    out = {}
    for line in (work_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("mode") == "train":
            values = {k: v for k, v in record.items() if k.startswith("loss") or k == "lr"}
            out.setdefault(record["iter"], []).append(values)
    return out


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_mid_epoch_then_resume_gives_the_same_losses(tmp_path):
    config = _config_file(tmp_path)
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    done = subprocess.run(_command(config, full_dir), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    full = _train_logs(full_dir)
    total = max(full)
    assert total > KILL_AFTER + 2 and all(len(v) == 1 for v in full.values())

    proc = subprocess.Popen(_command(config, cut_dir), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 600
    while not (cut_dir / f"iter_{KILL_AFTER}.pth").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    proc.stderr.close()
    # a write cut by SIGKILL may leave a temporary file; it is never named like a checkpoint
    leftovers = list(cut_dir.glob("*.tmp"))
    assert all(p.name.startswith(".") for p in leftovers)

    latest = torch.load(cut_dir / "latest.pth", map_location="cpu", weights_only=True)
    killed_at = latest["iter"]
    # the hook writes iter_<K>.pth, then latest.pth: the kill may land between the two
    assert KILL_AFTER - 1 <= killed_at < total, "the process was not killed in the middle of training"
    epoch_len = total // EPOCHS
    assert 0 < latest["inner_iter"] < epoch_len, f"epoch length {epoch_len}: killed at an epoch boundary"
    assert set(latest["rng"]) >= {"python", "numpy", "torch"} and latest["optimizer"]["state"]
    assert latest["epoch"] >= 1 and latest["inner_iter"] < latest["iter"]  # past the first epoch, inside one

    resumed = subprocess.run(_command(config, cut_dir, "--resume"), env=_env(), capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    cut = _train_logs(cut_dir)
    assert sorted(cut) == sorted(full), "some iterations were never logged"
    for it, records in cut.items():
        for record in records:  # iterations after the checkpoint may have been logged before the kill too
            assert record == full[it][0], f"iteration {it} differs (killed after iteration {killed_at})"
    assert any(len(records) == 1 for it, records in cut.items() if it > killed_at)
    print(f"killed after iteration {killed_at} of {total} (epoch {latest['epoch']}, batch {latest['inner_iter']}"
          f" of {epoch_len}); {sum(len(r) for r in cut.values())} log lines compared with the uninterrupted run")
    assert not any(p.exists() for p in leftovers), "the resumed run's saves remove stale temporary files"
