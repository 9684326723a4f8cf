"""A two-rank DDP check, run under ``torchrun`` by the engine tests.

``python -m torch.distributed.run --nproc_per_node 2 -m visdet.testing.ddp_check OUT_DIR``
trains a small regression model for 3 iterations with visdet's Runner on the gloo backend
and writes each rank's final parameters, the all-reduced mean rank and the logged loss to
``OUT_DIR/rank<R>.pt``. The test compares the ranks with each other and with a single
process that sees the global batch. Running under torchrun (fresh processes) rather than a
fork of the pytest worker avoids inheriting the parent's thread pools and locks.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from visdet.data import build_dataloader
from visdet.engine import Runner
from visdet.engine.dist import all_reduce_mean, get_rank, get_world_size, init_distributed, is_main_process

ITERS = 3


class RegressionSet(torch.utils.data.Dataset):
    """``n`` samples ``{"x": Tensor[4], "y": Tensor[1]}`` of a noisy linear map (seeded)."""

    def __init__(self, n: int = 16, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=gen)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=gen)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def regression_loss(model: nn.Module, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """Mean squared error of the model on a collated batch."""
    x = torch.stack(batch["x"]).to(device)
    y = torch.stack(batch["y"]).to(device)
    return {"loss_mse": ((model(x) - y) ** 2).mean()}


def make_model() -> nn.Module:
    """The model, with weights drawn from a fixed seed (equal on every rank)."""
    torch.manual_seed(11)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def train(model: nn.Module, batch_size: int, work_dir: str) -> Runner:
    """Train ``model`` for ``ITERS`` iterations of SGD with momentum."""
    loader = build_dataloader(RegressionSet(8), batch_size=batch_size, seed=0, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    runner = Runner(model=model, train_loader=loader, optimizer=optimizer, work_dir=work_dir, max_iters=ITERS,
                    loss_fn=regression_loss)  # fmt: skip
    runner.train()
    return runner


def flat_params(model: nn.Module) -> torch.Tensor:
    """All parameters as one vector (unwraps DDP)."""
    model = getattr(model, "module", model)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def main(out_dir: str) -> None:
    """One rank's part: train, all-reduce, write the results."""
    torch.set_num_threads(1)
    if not init_distributed("gloo"):
        raise SystemExit("ddp_check must run under torchrun (RANK/WORLD_SIZE unset)")
    rank = get_rank()
    assert is_main_process() == (rank == 0)
    model = make_model()
    runner = train(model, batch_size=2, work_dir=out_dir)
    mean_rank = all_reduce_mean(torch.tensor([float(rank)]))
    result = {"params": flat_params(model), "mean_rank": mean_rank, "loss": runner.log_vars["loss"],
              "world_size": get_world_size()}  # fmt: skip
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    # Release the DistributedDataParallel wrapper (its reducer holds the process group)
    # before tearing the group down: left alive until interpreter exit, it destroyed the
    # group's threads during static destruction and aborted the rank about 1 run in 6
    # ("terminate called without an active exception", after the results were written).
    runner.release_distributed()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
