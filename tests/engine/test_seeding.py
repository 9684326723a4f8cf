import torch

from visdet.engine import Runner, seed_everything
from visdet.engine.hooks import Hook


class Losses(Hook):
    def __init__(self):
        self.values = []

    def after_train_iter(self, runner):
        self.values.append(runner.log_vars["loss"])


def _train(toy, tmp_path, seed):
    model = toy.model(seed=0, dropout=0.3)  # dropout draws from the global RNG
    rec = Losses()
    Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
           work_dir=tmp_path, max_iters=6, loss_fn=toy.loss, seed=seed, hooks=[rec]).train()  # fmt: skip
    return rec.values


def test_same_seed_same_run_other_seed_other_run(toy, tmp_path):
    a, b, c = _train(toy, tmp_path, 3), _train(toy, tmp_path, 3), _train(toy, tmp_path, 4)
    assert a == b
    assert a != c


def test_deterministic_mode_sets_torch_flags():
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
