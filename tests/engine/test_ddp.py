import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from visdet.data import build_dataloader
from visdet.engine import Runner
from visdet.engine.dist import all_reduce_mean, get_rank, get_world_size, init_distributed, is_main_process


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model():
    torch.manual_seed(11)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _worker(rank, world_size, port, out_dir, dataset, loss_fn):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    assert init_distributed("gloo")
    assert (get_rank(), get_world_size(), is_main_process()) == (rank, world_size, rank == 0)
    model = _model()
    loader = build_dataloader(dataset, batch_size=2, seed=0, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    runner = Runner(model=model, train_loader=loader, optimizer=opt, work_dir=out_dir, max_iters=3, loss_fn=loss_fn)
    runner.train()
    mean_rank = all_reduce_mean(torch.tensor([float(rank)]))
    torch.save({"params": _flat(model), "mean_rank": mean_rank, "loss": runner.log_vars["loss"]},
               os.path.join(out_dir, f"rank{rank}.pt"))  # fmt: skip
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_stay_in_sync_and_match_the_global_batch(toy, tmp_path):
    dataset = toy.Dataset(8)
    mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path), dataset, toy.loss), nprocs=2,
                       start_method="fork")  # fmt: skip
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert torch.equal(r0["params"], r1["params"])
    assert r0["mean_rank"].item() == 0.5
    assert r0["loss"] == r1["loss"]  # logged losses are averaged over ranks
    # DDP averages gradients: 2 ranks x batch 2 equals one process with batch 4 of the same samples
    model = _model()
    loader = build_dataloader(dataset, batch_size=4, seed=0, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Runner(model=model, train_loader=loader, optimizer=opt, work_dir=tmp_path / "single", max_iters=3,
           loss_fn=toy.loss).train()  # fmt: skip
    assert (_flat(model) - _flat(_model())).abs().max() > 1e-3
    torch.testing.assert_close(r0["params"], _flat(model), atol=1e-6, rtol=1e-5)
