import torch

from visdet.engine.lr_finder import find_lr


def test_lr_finder_restores_state_and_suggests_lr_in_range(toy, tmp_path):
    model = toy.model(seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # give the optimizer some state to restore
    toy.loss(model, next(iter(toy.loader())), torch.device("cpu"))["loss_mse"].backward()
    opt.step()
    opt.zero_grad()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    momentum = {k: v["momentum_buffer"].clone() for k, v in opt.state_dict()["state"].items()}
    torch.manual_seed(7)
    expected_draw = torch.rand(3)
    torch.manual_seed(7)
    result = find_lr(model=model, loader=toy.loader(batch_size=16, n=64), optimizer=opt, loss_fn=toy.loss,
                     start_lr=1e-4, end_lr=100.0, num_iters=60)  # fmt: skip
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    for k, v in opt.state_dict()["state"].items():
        assert torch.equal(v["momentum_buffer"], momentum[k])
    assert opt.param_groups[0]["lr"] == 0.01
    assert torch.equal(torch.rand(3), expected_draw)  # RNG restored
    assert result.diverged and len(result.lrs) < 60  # LR 100 blows a regression up
    assert 1e-4 <= result.suggested_lr <= result.lrs[-1]
    # the suggestion lies where the loss still falls, before the minimum
    best = min(range(len(result.losses)), key=result.losses.__getitem__)
    assert result.suggested_lr <= result.lrs[best]
    assert result.lrs == sorted(result.lrs)
    assert result.plot(tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"


def test_lr_finder_without_divergence_runs_all_steps(toy):
    model = toy.model(seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    result = find_lr(model=model, loader=toy.loader(batch_size=16, n=16), optimizer=opt, loss_fn=toy.loss,
                     start_lr=1e-6, end_lr=1e-3, num_iters=10)  # fmt: skip
    assert not result.diverged and len(result.lrs) == 10
    assert result.lrs[0] == 1e-6 and abs(result.lrs[-1] - 1e-3) < 1e-12
