import pytest
import torch

from visdet.structures import Instances


def make(n: int = 4) -> Instances:
    return Instances(bboxes=torch.arange(n * 4, dtype=torch.float32).reshape(n, 4), labels=torch.arange(n))


def test_fields_share_length() -> None:
    inst = make(3)
    assert len(inst) == 3 and inst.keys() == ["bboxes", "labels"]
    with pytest.raises(ValueError, match="field 'scores' has length 2, but field 'bboxes' has length 3"):
        inst.scores = torch.ones(2)
    with pytest.raises(ValueError, match="scalar"):
        inst.scores = torch.tensor(1.0)
    with pytest.raises(TypeError, match="field 'x' must be a tensor or sequence"):
        inst.x = 3


def test_indexing_by_mask_index_slice_and_int() -> None:
    inst = make(4)
    inst.names = ["a", "b", "c", "d"]
    masked = inst[inst.labels % 2 == 0]
    assert masked.labels.tolist() == [0, 2] and masked.names == ["a", "c"]
    picked = inst[torch.tensor([3, 1])]
    assert picked.labels.tolist() == [3, 1] and picked.names == ["d", "b"]
    assert inst[1:3].labels.tolist() == [1, 2] and inst[-1].names == ["d"]
    with pytest.raises(IndexError, match="bool mask of length 3 for 4 instances"):
        inst[torch.tensor([True, False, True])]


def test_cat_and_missing_field() -> None:
    joined = Instances.cat([make(2), make(3)])
    assert len(joined) == 5 and joined.labels.tolist() == [0, 1, 0, 1, 2]
    with pytest.raises(ValueError, match="part 1 has fields"):
        Instances.cat([make(2), Instances(bboxes=torch.zeros(1, 4))])
    with pytest.raises(AttributeError, match="no field 'scores'"):
        _ = make(1).scores


def test_empty_instances() -> None:
    empty = Instances(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    assert len(empty) == 0 and len(empty[empty.labels > 0]) == 0
    assert len(Instances()) == 0


def test_pickle_round_trip_for_dataloader_workers() -> None:
    import pickle

    inst = make(3)
    inst.names = ["a", "b", "c"]
    back = pickle.loads(pickle.dumps(inst))
    assert back.keys() == inst.keys() and torch.equal(back.bboxes, inst.bboxes) and back.names == inst.names
