import numpy as np
import pytest
import torch

from visdet.build import build_pipeline
from visdet.data.collate import pseudo_collate
from visdet.data.loader import build_dataloader
from visdet.data.samplers import AspectRatioBatchSampler, DefaultSampler, InfiniteSampler


class _Sized:
    def __init__(self, shapes):
        self.shapes = shapes

    def __len__(self):
        return len(self.shapes)

    def get_data_info(self, idx):
        h, w = self.shapes[idx]
        return {"height": h, "width": w}


def test_default_sampler_is_a_seeded_permutation_per_epoch():
    ds = _Sized([(1, 1)] * 10)
    s = DefaultSampler(ds, seed=3)
    g = torch.Generator().manual_seed(3)
    assert list(s) == torch.randperm(10, generator=g).tolist()
    s.set_epoch(2)
    assert list(s) == torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    assert list(DefaultSampler(ds, shuffle=False)) == list(range(10)) and len(s) == 10


def test_default_sampler_splits_over_ranks_with_padding(monkeypatch):
    import visdet.data.samplers as samplers

    ds = _Sized([(1, 1)] * 7)
    parts = []
    for rank in range(3):
        monkeypatch.setattr(samplers, "dist_info", lambda r=rank: (r, 3))
        s = DefaultSampler(ds, seed=1)
        parts.append(list(s))
        assert len(s) == 3
    full = torch.randperm(7, generator=torch.Generator().manual_seed(1)).tolist()
    padded = (full * 2)[:9]
    assert [x for trio in zip(*parts) for x in trio] == padded
    assert sorted(set(sum(parts, []))) == list(range(7))


def test_infinite_sampler_streams_permutations():
    ds = _Sized([(1, 1)] * 4)
    it = iter(InfiniteSampler(ds, seed=0))
    got = [next(it) for _ in range(12)]
    g = torch.Generator().manual_seed(0)
    expected = sum((torch.randperm(4, generator=g).tolist() for _ in range(3)), [])
    assert got == expected


def test_aspect_ratio_batches_group_orientation():
    shapes = [(10, 5), (5, 10), (10, 5), (5, 10), (10, 5), (5, 10), (10, 5)]
    ds = _Sized(shapes)
    sampler = DefaultSampler(ds, shuffle=False)
    batches = list(AspectRatioBatchSampler(sampler, batch_size=2))
    for batch in batches[:-1]:
        kinds = {shapes[i][1] < shapes[i][0] for i in batch}
        assert len(kinds) == 1 and len(batch) == 2
    assert sorted(sum(batches, [])) == list(range(7))
    assert len(AspectRatioBatchSampler(sampler, batch_size=2)) == 4
    assert len(list(AspectRatioBatchSampler(sampler, batch_size=2, drop_last=True))) == 3
    with pytest.raises(ValueError):
        AspectRatioBatchSampler(sampler, batch_size=0)


def test_pseudo_collate_dict_of_lists():
    batch = [{"inputs": torch.zeros(3, 2, 2), "x": 1}, {"inputs": torch.ones(3, 4, 4), "x": 2}]
    out = pseudo_collate(batch)
    assert out["x"] == [1, 2] and [t.shape[1] for t in out["inputs"]] == [2, 4]
    with pytest.raises(KeyError, match="same keys"):
        pseudo_collate([{"a": 1}, {"b": 2}])


def test_loader_over_coco(dataset_kwargs):
    from visdet.data.datasets import CocoDataset

    pipeline = [{"type": "LoadImageFromFile"}, {"type": "LoadAnnotations"},
                {"type": "Resize", "scale": (64, 48), "keep_ratio": True}, {"type": "PackDetInputs"}]  # fmt: skip
    ds = CocoDataset(**dataset_kwargs, pipeline=build_pipeline(pipeline))
    np.random.seed(0)
    loader = build_dataloader(ds, batch_size=2, seed=0, aspect_ratio_batches=True)
    batches = list(loader)
    assert sum(len(b["inputs"]) for b in batches) == len(ds)
    ids = sorted(s.img_id for b in batches for s in b["data_samples"])
    assert ids == sorted(d["img_id"] for d in ds.data_list)
    plain = list(build_dataloader(ds, batch_size=3, shuffle=False, seed=1))
    assert [s.img_id for s in plain[0]["data_samples"]] == [d["img_id"] for d in ds.data_list[:3]]
