import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from visdet.testing import ddp_check


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_stay_in_sync_and_match_the_global_batch(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "visdet.testing.ddp_check", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert torch.equal(r0["params"], r1["params"])
    assert r0["mean_rank"].item() == 0.5
    assert r0["loss"] == r1["loss"]  # logged losses are averaged over ranks
    # DDP averages gradients: 2 ranks x batch 2 equals one process with batch 4 of the same samples
    model = ddp_check.make_model()
    ddp_check.train(model, batch_size=4, work_dir=str(tmp_path / "single"))
    assert (ddp_check.flat_params(model) - ddp_check.flat_params(ddp_check.make_model())).abs().max() > 1e-3
    torch.testing.assert_close(r0["params"], ddp_check.flat_params(model), atol=1e-6, rtol=1e-5)
