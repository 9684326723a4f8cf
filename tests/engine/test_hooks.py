import pytest
import torch

from visdet.engine import Runner
from visdet.engine.hooks import CheckpointHook, EvalHook, MLflowHook, TensorBoardHook


class ScriptedVal:
    """A validation loop that returns scripted scores and counts its calls."""

    def __init__(self, scores):
        self.scores = list(scores)
        self.calls = 0

    def run(self, model, device):
        self.calls += 1
        return {"score": self.scores[self.calls - 1]}


def _runner(toy, tmp_path, hooks, val_loop=None, max_iters=8):
    model = toy.model()
    return Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                  work_dir=tmp_path, max_iters=max_iters, loss_fn=toy.loss, hooks=hooks, val_loop=val_loop)  # fmt: skip


def test_checkpoint_hook_keeps_the_last_n_and_the_best(toy, tmp_path):
    val = ScriptedVal([0.1, 0.5, 0.3, 0.2])
    hooks = [EvalHook(interval=2, by_epoch=False), CheckpointHook(interval=2, by_epoch=False, keep_last=2,
                                                                   save_best="score")]  # fmt: skip
    runner = _runner(toy, tmp_path, hooks, val_loop=val)
    runner.train()
    assert val.calls == 4
    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert names == ["best.pth", "iter_6.pth", "iter_8.pth", "latest.pth"]
    assert torch.load(tmp_path / "best.pth", weights_only=True)["iter"] == 4  # score 0.5 at the 2nd validation
    assert torch.load(tmp_path / "latest.pth", weights_only=True)["iter"] == 8


def test_eval_hook_by_epoch(toy, tmp_path):
    val = ScriptedVal([0.0] * 10)
    model = toy.model()
    runner = Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                    work_dir=tmp_path, max_epochs=3, loss_fn=toy.loss, hooks=[EvalHook(interval=1)],
                    val_loop=val)  # fmt: skip
    runner.train()
    assert val.calls == 3 and len(runner.val_history) == 3


def test_checkpoint_hook_rejects_unknown_metric(toy, tmp_path):
    hooks = [EvalHook(interval=4, by_epoch=False), CheckpointHook(interval=0, save_best="mAP")]
    with pytest.raises(KeyError, match="save_best='mAP'"):
        _runner(toy, tmp_path, hooks, val_loop=ScriptedVal([1.0, 1.0])).train()


def test_optional_loggers_name_their_extra():
    for hook, extra in ((TensorBoardHook, "tensorboard"), (MLflowHook, "mlflow")):
        try:
            hook()
        except ImportError as err:
            assert f"visdet[{extra}]" in str(err)


def test_validation_waits_for_the_end_of_an_accumulation_window(toy, tmp_path):
    seen = []

    class Val(ScriptedVal):
        def run(self, model, device):
            seen.append((runner.iter, runner.at_step_boundary))
            return super().run(model, device)

    model = toy.model()
    runner = Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                    work_dir=tmp_path, max_iters=8, loss_fn=toy.loss, accumulate_steps=3,
                    hooks=[EvalHook(interval=2, by_epoch=False), CheckpointHook(interval=0, save_best="score")],
                    val_loop=Val([1.0] * 8))  # fmt: skip
    runner.train()
    # windows: batches 1-3, 4 (epoch end at 4), 5-7, 8; due at 2, 4, 6, 8
    assert seen == [(3, True), (4, True), (7, True), (8, True)]
