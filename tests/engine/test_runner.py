import json

import pytest
import torch

from visdet.engine import NonFiniteLossError, Runner
from visdet.engine.hooks import CheckpointHook, EarlyStoppingHook, Hook, LoggerHook
from visdet.engine.optim import build_optimizer, build_scheduler


class LossRecorder(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner):
        self.losses.append(runner.log_vars["loss"])


def make_runner(toy, work_dir, *, max_iters=None, max_epochs=None, batch_size=4, n=16, hooks=(), seed=0, **kwargs):
    model = kwargs.pop("model", None) or toy.model(dropout=0.2)
    opt = build_optimizer(model, name="sgd", lr=0.05, weight_decay=1e-3)
    total = max_iters or max_epochs * (n // batch_size)
    sched = build_scheduler(opt, name="cosine", total_steps=total, warmup_steps=2)
    return Runner(model=model, train_loader=toy.loader(batch_size=batch_size, n=n), optimizer=opt, scheduler=sched,
                  work_dir=work_dir, max_iters=max_iters, max_epochs=max_epochs, loss_fn=toy.loss, seed=seed,
                  hooks=hooks, **kwargs)  # fmt: skip


def test_grad_accumulation_matches_big_batch_without_batch_statistics(toy, tmp_path):
    k, params = 4, []
    for batch_size, accumulate in ((2, k), (2 * k, 1)):
        torch.manual_seed(5)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = toy.loader(batch_size=batch_size, n=16, shuffle=False)
        Runner(model=model, train_loader=loader, optimizer=opt, work_dir=tmp_path, max_epochs=2,
               loss_fn=toy.loss, accumulate_steps=accumulate).train()  # fmt: skip
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.manual_seed(5)
    start = torch.cat([p.detach().flatten() for p in torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).parameters()])  # fmt: skip
    assert (params[0] - start).abs().max() > 1e-3  # it trained
    torch.testing.assert_close(params[0], params[1], atol=1e-6, rtol=1e-5)


def test_kill_and_resume_gives_identical_losses(toy, tmp_path):
    full = LossRecorder()
    make_runner(toy, tmp_path / "full", max_iters=12, hooks=[full]).train()

    class Kill(Hook):
        def after_train_iter(self, runner):
            if runner.iter == 6:
                runner.save_checkpoint(runner.work_dir / "latest.pth")
                raise KeyboardInterrupt

    first = LossRecorder()
    with pytest.raises(KeyboardInterrupt):
        make_runner(toy, tmp_path / "cut", max_iters=12, hooks=[first, Kill()]).train()
    # scramble the RNGs: resume must restore them
    torch.manual_seed(1234)
    second = LossRecorder()
    make_runner(toy, tmp_path / "cut", max_iters=12, hooks=[second], resume=True, seed=None).train()
    assert first.losses + second.losses == full.losses


def test_epoch_based_resume_mid_epoch(toy, tmp_path):
    full = LossRecorder()
    make_runner(toy, tmp_path / "a", max_epochs=3, hooks=[full]).train()
    first, second = LossRecorder(), LossRecorder()

    class Stop(Hook):
        def after_train_iter(self, runner):
            if runner.iter == 5:
                runner.request_stop("test")

    r = make_runner(toy, tmp_path / "b", max_epochs=3, hooks=[first, Stop(), CheckpointHook(interval=0)])
    r.train()
    assert (r.epoch, r.iter, r.inner_iter) == (1, 5, 1)
    make_runner(toy, tmp_path / "b", max_epochs=3, hooks=[second], resume=tmp_path / "b" / "latest.pth").train()
    assert first.losses + second.losses == full.losses


def test_nan_loss_stops_with_message_and_keeps_checkpoint(toy, tmp_path):
    def nan_after(model, batch, device):
        losses = toy.loss(model, batch, device)
        if runner.iter >= 5:
            losses["loss_l1"] = losses["loss_l1"] * float("nan")
        return losses

    model = toy.model()
    runner = Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                    work_dir=tmp_path, max_iters=10, loss_fn=nan_after,
                    hooks=[CheckpointHook(interval=2, by_epoch=False)])  # fmt: skip
    with pytest.raises(NonFiniteLossError, match=r"iteration 6 .*'loss_l1'"):
        runner.train()
    ckpt = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert ckpt["iter"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_batch_size_larger_than_dataset(toy, tmp_path):
    model = toy.model()
    with pytest.raises(ValueError, match=r"batch_size=32 is larger than the training set \(16 images\)"):
        Runner(model=model, train_loader=toy.loader(batch_size=32), optimizer=torch.optim.SGD(model.parameters(), 0.1),
               work_dir=tmp_path, max_iters=2, loss_fn=toy.loss)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error(toy, tmp_path):
    model = toy.model()
    with pytest.raises(RuntimeError, match="device='cuda' was requested but CUDA is not available"):
        Runner(model=model, train_loader=toy.loader(), optimizer=torch.optim.SGD(model.parameters(), 0.1),
               work_dir=tmp_path, max_iters=2, loss_fn=toy.loss, device="cuda")  # fmt: skip


def test_resume_path_missing_or_other_model(toy, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        make_runner(toy, tmp_path, max_iters=2, resume=tmp_path / "nowhere.pth").train()
    make_runner(toy, tmp_path / "a", max_iters=2, hooks=[CheckpointHook(interval=0)]).train()
    other = torch.nn.Sequential(torch.nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"latest.pth.*Sequential, not a ToyModel|written for a ToyModel"):
        make_runner(toy, tmp_path / "b", max_iters=2, model=other, resume=tmp_path / "a" / "latest.pth").train()


def test_logger_writes_json_lines_and_lr_follows_schedule(toy, tmp_path):
    runner = make_runner(toy, tmp_path, max_iters=8, hooks=[LoggerHook(interval=2, progress=True)])
    runner.train()
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["iter"] for x in lines] == [2, 4, 6, 8]
    assert {"loss", "loss_mse", "loss_l1", "lr", "eta_s"} <= set(lines[0])
    assert lines[-1]["eta_s"] == 0
    assert lines[1]["lr"] > lines[-1]["lr"]  # cosine decays


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # fp16 skips step 1
def test_mixed_precision_trains(toy, tmp_path, precision):
    rec = LossRecorder()
    runner = make_runner(toy, tmp_path, max_epochs=6, hooks=[rec], precision=precision, grad_clip=1.0)
    runner.train()
    assert (runner.scaler is not None) == (precision == "fp16")
    assert all(torch.isfinite(torch.tensor(rec.losses)))
    assert sum(rec.losses[-4:]) < sum(rec.losses[:4])


def test_grad_clip_bounds_the_step(toy, tmp_path):
    model = torch.nn.Linear(4, 1)
    start = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)

    def huge(m, batch, device):
        return {"loss": 1e6 * toy.loss(m, batch, device)["loss_mse"]}

    Runner(model=model, train_loader=toy.loader(), optimizer=opt, work_dir=tmp_path, max_iters=1, loss_fn=huge,
           grad_clip=0.5).train()  # fmt: skip
    moved = torch.cat([(model.weight - start).flatten(), model.bias.detach().flatten()])
    assert moved.norm() <= 0.5 + 1e-4 + model.bias.detach().abs().max()


def test_early_stopping_requests_stop(toy, tmp_path):
    class FlatVal:
        loader = toy.loader()

        def run(self, model, device):
            return {"score": 1.0}

    hook = EarlyStoppingHook(monitor="score", patience=2)

    class ValEveryIter(Hook):
        def after_train_iter(self, runner):
            runner.val()

    runner = make_runner(toy, tmp_path, max_iters=20, hooks=[ValEveryIter(), hook], val_loop=FlatVal())
    runner.train()
    assert runner.iter == 3 and "did not improve" in runner.stop_reason
