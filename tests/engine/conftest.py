"""Toy training set-ups for the engine tests: a small regression model and dataset."""

import pytest
import torch
from torch import nn

from visdet.data import build_dataloader
from visdet.testing.ddp_check import RegressionSet

# the DDP check's dataset: n samples {"x": Tensor[4], "y": Tensor[1]} from a fixed seed
ToyDataset = RegressionSet


class ToyModel(nn.Module):
    def __init__(self, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.BatchNorm1d(8, track_running_stats=False)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(8, 1)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.norm(self.fc1(x)))))


def toy_loss(model, batch, device):
    x = torch.stack(batch["x"]).to(device)
    y = torch.stack(batch["y"]).to(device)
    pred = model(x)
    return {"loss_mse": ((pred - y) ** 2).mean(), "loss_l1": 0.1 * (pred - y).abs().mean()}


@pytest.fixture
def toy():
    """Factories: ``toy.model(seed)``, ``toy.loader(batch_size, n, seed)``, ``toy.loss``."""

    class Factory:
        loss = staticmethod(toy_loss)
        Dataset = ToyDataset

        @staticmethod
        def model(seed=0, dropout=0.0):
            torch.manual_seed(seed)
            return ToyModel(dropout)

        @staticmethod
        def loader(batch_size=4, n=16, seed=0, shuffle=True):
            return build_dataloader(ToyDataset(n), batch_size=batch_size, seed=seed, shuffle=shuffle)

    return Factory
