# Ported from mmdet tests/test_datasets/test_samplers/test_batch_sampler.py (mmdet 3.3.0).
# Rewritten for visdet: the dataset draws its shapes from a seeded generator, the errors
# are visdet's messages (same exception types), and the grouping is also checked on a
# dataset whose aspect ratios alternate, where every full batch must be one-sided.
import numpy as np
import pytest
from torch.utils.data import Dataset

from visdet.data.samplers import AspectRatioBatchSampler, DefaultSampler

LENGTH = 100


class ShapesDataset(Dataset):
    """``LENGTH`` items whose (width, height) come from a seeded generator."""

    def __init__(self, length: int, seed: int = 0) -> None:
        self.shapes = np.random.default_rng(seed).random((length, 2))

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, idx: int) -> np.ndarray:
        return self.shapes[idx]

    def get_data_info(self, idx: int) -> dict:
        return {"width": self.shapes[idx][0], "height": self.shapes[idx][1]}


@pytest.fixture
def dataset() -> ShapesDataset:
    return ShapesDataset(LENGTH)


def _portrait(dataset: ShapesDataset, idx: int) -> bool:
    width, height = dataset[idx]
    return bool(width < height)


def test_invalid_inputs(dataset):
    sampler = DefaultSampler(dataset, shuffle=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        AspectRatioBatchSampler(sampler, batch_size=-1)
    with pytest.raises(TypeError, match="sampler must be a torch.utils.data.Sampler"):
        AspectRatioBatchSampler(None, batch_size=1)


def test_divisible_batch(dataset):
    batch_sampler = AspectRatioBatchSampler(DefaultSampler(dataset, shuffle=False), batch_size=5, drop_last=True)
    batches = list(batch_sampler)
    assert len(batch_sampler) == LENGTH // 5
    for batch in batches:
        assert len(batch) == 5
        assert len({_portrait(dataset, idx) for idx in batch}) == 1
    # mmdet quirk kept: with drop_last, the leftovers of both buckets are dropped even when
    # they add up to a full (mixed) batch, so len() can count one batch more than it yields.
    portrait = sum(_portrait(dataset, i) for i in range(LENGTH))
    mixed_leftover = portrait % 5 != 0
    assert len(batches) == LENGTH // 5 - int(mixed_leftover)


@pytest.mark.live
def test_batches_match_mmdet_live():
    from parity.reference import reference_missing

    if reference_missing():
        pytest.skip(reference_missing())
    from mmdet.datasets.samplers import AspectRatioBatchSampler as Reference
    from mmengine.dataset import DefaultSampler as ReferenceSampler

    for seed in range(5):
        data = ShapesDataset(53, seed=seed)
        for batch_size, drop_last in ((4, False), (4, True), (53, False), (1, True)):
            ours = AspectRatioBatchSampler(DefaultSampler(data, shuffle=True, seed=seed), batch_size=batch_size,
                                           drop_last=drop_last)  # fmt: skip
            theirs = Reference(ReferenceSampler(data, shuffle=True, seed=seed), batch_size=batch_size,
                               drop_last=drop_last)  # fmt: skip
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_indivisible_batch(dataset):
    sampler = DefaultSampler(dataset, shuffle=False)
    keep = AspectRatioBatchSampler(sampler, batch_size=7, drop_last=False)
    batches = list(keep)
    assert len(keep) == len(batches) == (LENGTH + 6) // 7
    assert sorted(i for b in batches for i in b) == list(range(LENGTH))

    drop = AspectRatioBatchSampler(sampler, batch_size=7, drop_last=True)
    batches = list(drop)
    assert len(drop) == len(batches) == LENGTH // 7
    # the batch made of what both buckets left over may mix orientations; the others may not
    for batch in batches[:-1]:
        assert len(batch) == 7
        assert len({_portrait(dataset, idx) for idx in batch}) == 1
