"""A DDP rank that dies mid-training: the other rank exits with an error naming the dead rank, no hang.

Rank 1 leaves with ``os._exit(3)`` after its second iteration (``visdet.testing.ddp_fault``).
Under ``torchrun`` the agent stops rank 0 and names rank 1 as the root cause; with two
processes started by hand (no agent) rank 0's next collective fails and it raises
``DistributedTrainingError`` naming itself and rank 1. The bound on time is the
subprocess timeout (a hang fails the test); collectives time out after
``VISDET_DIST_TIMEOUT`` seconds in any case.
"""

import os
import socket
import subprocess
import sys

import pytest
import torch.distributed as dist

from visdet.testing.ddp_fault import EXIT_CODE

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
BOUND_S = 240  # far above the few seconds this takes; only a hang reaches it


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "VISDET_DIST_TIMEOUT": "60", **extra}


def test_torchrun_stops_the_job_and_names_the_dead_rank(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "visdet.testing.ddp_fault", str(tmp_path), "1"]  # fmt: skip
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=BOUND_S)
    output = done.stdout + done.stderr
    assert (tmp_path / "rank0.started").exists() and (tmp_path / "rank1.started").exists()
    assert done.returncode != 0
    root_cause = output[output.index("Root Cause") :]
    assert "rank      : 1 (local_rank: 1)" in root_cause and f"exitcode  : {EXIT_CODE}" in root_cause


def test_surviving_rank_raises_naming_the_dead_rank(tmp_path):
    port = str(_free_port())
    common = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WORLD_SIZE": "2"}
    command = [sys.executable, "-m", "visdet.testing.ddp_fault", str(tmp_path), "1"]
    ranks = [
        subprocess.Popen(command, env=_env(**common, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for r in (0, 1)
    ]
    try:
        outputs = [p.communicate(timeout=BOUND_S)[0] for p in ranks]
    finally:
        for p in ranks:
            p.kill()
    assert ranks[1].returncode == EXIT_CODE
    assert ranks[0].returncode not in (0, None)
    assert "DistributedTrainingError: rank 0 of 2: a collective operation failed at iteration 3: " \
           "rank 1 stopped answering" in outputs[0], outputs[0][-3000:]  # fmt: skip
