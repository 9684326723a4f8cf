"""A two-rank training run in which one rank dies, run by the engine tests.

``python -m torch.distributed.run --nproc_per_node 2 -m visdet.testing.ddp_fault OUT_DIR DEAD_RANK``
(or two processes started by hand with ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``)
trains the DDP check's regression model with visdet's Runner on gloo; rank ``DEAD_RANK``
leaves with ``os._exit(3)`` after its second iteration, with no cleanup, as a process
killed by the OOM killer or a crashed node would. Each rank writes
``OUT_DIR/rank<R>.started`` when training begins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from visdet.data import build_dataloader
from visdet.engine import Runner
from visdet.engine.dist import get_rank, init_distributed
from visdet.engine.hooks import Hook
from visdet.testing.ddp_check import RegressionSet, make_model, regression_loss

EXIT_CODE = 3


class DieAt(Hook):
    """``os._exit(EXIT_CODE)`` on rank ``rank`` after iteration ``at``."""

    def __init__(self, rank: int, at: int) -> None:
        self.rank, self.at = rank, at

    def after_train_iter(self, runner: Runner) -> None:
        """Leave without cleanup at the chosen iteration."""
        if get_rank() == self.rank and runner.iter == self.at:
            os._exit(EXIT_CODE)


def main(out_dir: str, dead_rank: int) -> None:
    """One rank's part."""
    torch.set_num_threads(1)
    if not init_distributed("gloo"):
        raise SystemExit("ddp_fault must run with RANK/WORLD_SIZE set (torchrun)")
    Path(out_dir, f"rank{get_rank()}.started").touch()
    loader = build_dataloader(RegressionSet(64), batch_size=2, seed=0, shuffle=False)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    runner = Runner(model=model, train_loader=loader, optimizer=optimizer, work_dir=out_dir, max_iters=1000,
                    loss_fn=regression_loss, hooks=[DieAt(dead_rank, 2)])  # fmt: skip
    runner.train()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
